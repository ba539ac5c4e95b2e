"""Servers that misbehave: one that never answers, one killed mid-copy, and Ctrl-C.

Every server here is started by the test on 127.0.0.1. No timed assertions: a command either
ends (with one line naming the endpoint and a fix) before the hang guard, or the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3lab import buckets, processes, sandbox
from tests.conftest import RELIABILITY, ROOT

HANG_GUARD = 90  # seconds: far above the worst case of the settings below (about 10 s)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections, reads, and never writes a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                conn.setblocking(False)
                held.append(conn)  # kept open, never answered
            for other in held:
                with contextlib.suppress(OSError):
                    other.recv(65536)  # drain, so a sender is never blocked by a full buffer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _env(endpoint: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LAB_"))}
    env.update(
        S3LAB_BACKEND="aws",
        S3LAB_HOME=str(home / "s3lab"),
        S3LAB_CONNECT_TIMEOUT="1",
        S3LAB_READ_TIMEOUT="1",
        S3LAB_ATTEMPTS="2",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=sandbox.FAKE_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=sandbox.FAKE_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


HANG_COMMANDS = [
    ["bucket", "list"],
    ["bucket", "list", "s3://hang-bucket/data/"],
    ["bucket", "make", "hang-bucket"],
    ["bucket", "put", "{tmp}/data/one.txt", "s3://hang-bucket/one.txt"],
    ["bucket", "get", "s3://hang-bucket/one.txt", "{tmp}/out.txt"],
    ["bucket", "sync", "{tmp}/data", "s3://hang-bucket/data"],
    ["bucket", "remove", "hang-bucket", "--force"],
    ["bucket", "cost", "hang-bucket"],
    ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "1d"],
    ["mount", "hang-bucket", "{tmp}/mnt", "--tool", "rclone"],
    ["doctor"],
]


@pytest.mark.integration
def test_a_server_that_never_answers(silent_server: str, tmp_path: Path) -> None:
    """Every S3 command and doctor end with one line naming the endpoint, instead of hanging."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "one.txt").write_text("one\n")
    env = _env(silent_server, tmp_path)
    children = []
    for command in HANG_COMMANDS:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "s3lab.cli", *argv],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    where = silent_server.removeprefix("http://")
    for command, child in zip(HANG_COMMANDS, children, strict=True):
        try:
            out, err = child.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            for other in children:
                other.kill()
            pytest.fail(f"s3lab {' '.join(command)} still hangs after {HANG_GUARD} s")
        assert child.returncode != 0, (command, out, err)
        assert "Traceback" not in err, err
        if command == ["doctor"]:
            assert where in out and "did not answer" in out, out
            continue
        last = err.strip().splitlines()[-1]
        assert last.startswith("error: ") and " -- fix: " in last, (command, err)
        assert where in last, (command, last)
        RELIABILITY["faults"] += 1


# --- a SeaweedFS server killed (SIGKILL) or stopped (SIGSTOP) mid-operation ---------------------

BIG = 64 * 1024 * 1024  # multipart: eight 8 MiB parts
GUARD = 120  # seconds any one command may take before the test calls it hung


@dataclass
class Faulty:
    """This module's own SeaweedFS, in its own S3LAB_HOME, which the tests kill and restart."""

    home: Path
    box: sandbox.Sandbox

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LAB_"))}
        env.update(self.box.env())
        env.update(
            S3LAB_HOME=str(self.home),
            S3LAB_READ_TIMEOUT="1",
            S3LAB_CONNECT_TIMEOUT="1",
            S3LAB_ATTEMPTS="2",
            AWS_CONFIG_FILE=str(self.home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.home / "credentials"),
        )
        return env

    def client(self) -> Any:
        return sandbox.session().client("s3", endpoint_url=self.box.endpoint_url)

    def signal(self, sig: int) -> None:
        """Signal the server, only while its pid still is the server we started."""
        identity = self.box.identity()
        assert not processes.mismatch(identity), "the sandbox is not the process we started"
        os.kill(identity.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert processes.wait_gone(self.box.identity(), 10)

    def restart(self) -> None:
        # A new port: the old one may linger in TIME_WAIT. The data folder is the same.
        self.box = sandbox.start("server", home=self.home)

    def open_uploads(self, bucket: str) -> int:
        return len(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    home = tmp_path_factory.mktemp("faulty")
    server = Faulty(home, sandbox.start("server", home=home))
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.signal(signal.SIGCONT)  # a stopped server cannot stop itself
        sandbox.stop(home=home)


def _start(faulty: Faulty, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "s3lab.cli", *args],
        env=faulty.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=GUARD)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"still running after {GUARD} s: {child.args}\n{err}")
    return child.returncode, out, err


def _until(condition: Callable[[], bool], child: subprocess.Popen[str]) -> None:
    """Wait until ``condition`` holds (or the command ended, or the guard ran out)."""
    deadline = time.monotonic() + GUARD
    while not condition() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and " -- fix: " in last, err
    return last


def _tally(*, lost: int, uploads: int) -> None:
    RELIABILITY["lost"] += max(lost, 0)
    RELIABILITY["open_uploads"] += uploads


def _big_file(path: Path) -> Path:
    with path.open("wb") as out:
        for _ in range(BIG // (8 * 1024 * 1024)):
            out.write(os.urandom(8 * 1024 * 1024))
    return path


@pytest.mark.integration
def test_put_of_a_big_file_survives_a_killed_server(faulty: Faulty, tmp_path: Path) -> None:
    client = faulty.client()
    client.create_bucket(Bucket="fault-put")
    big = _big_file(tmp_path / "big.bin")
    child = _start(faulty, "bucket", "put", str(big), "s3://fault-put/big.bin", "--quiet")
    _until(lambda: faulty.open_uploads("fault-put") > 0, child)
    assert child.poll() is None, "the upload ended before the server could be killed"
    faulty.kill()
    code, _, err = _finish(child)
    assert code != 0
    assert faulty.box.endpoint_url.removeprefix("http://") in _one_line(err)
    faulty.restart()
    code, _, err = _finish(_start(faulty, "bucket", "put", str(big), "s3://fault-put/big.bin"))
    assert code == 0, err
    client = faulty.client()
    size = client.head_object(Bucket="fault-put", Key="big.bin")["ContentLength"]
    _tally(lost=int(size != BIG), uploads=faulty.open_uploads("fault-put"))
    assert size == BIG
    assert faulty.open_uploads("fault-put") == 0  # the killed run's upload was aborted
    RELIABILITY["faults"] += 1


@pytest.mark.integration
def test_sync_of_many_files_survives_a_stopped_server(faulty: Faulty, tmp_path: Path) -> None:
    client = faulty.client()
    client.create_bucket(Bucket="fault-sync")
    data = tmp_path / "data"
    data.mkdir()
    for index in range(150):
        (data / f"f{index:03}.txt").write_text(f"file {index}\n")
    child = _start(faulty, "bucket", "sync", str(data), "s3://fault-sync/d", "--quiet")
    _until(lambda: client.list_objects_v2(Bucket="fault-sync").get("KeyCount", 0) > 0, child)
    faulty.signal(signal.SIGSTOP)  # stopped: connections hang, nothing answers
    code, _, err = _finish(child)
    faulty.signal(signal.SIGCONT)
    assert code != 0
    _one_line(err)
    faulty.kill()
    faulty.restart()
    code, _, err = _finish(_start(faulty, "bucket", "sync", str(data), "s3://fault-sync/d"))
    assert code == 0, err
    keys = [o.key for o in buckets.iter_objects(faulty.client(), "fault-sync")]
    _tally(lost=150 - len(keys), uploads=faulty.open_uploads("fault-sync"))
    assert len(keys) == 150
    RELIABILITY["faults"] += 1


@pytest.mark.integration
@pytest.mark.parametrize(
    "command",
    [
        ["bucket", "remove", "fault-remove", "--force"],
        ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "0m"],
    ],
    ids=["remove-force", "cleanup"],
)
def test_remove_and_cleanup_survive_a_stopped_server(faulty: Faulty, command: list[str]) -> None:
    client = faulty.client()
    buckets.make_bucket(client, "fault-remove")
    for index in range(50):
        client.put_object(Bucket="fault-remove", Key=f"k{index}", Body=b"x")
    faulty.signal(signal.SIGSTOP)
    code, _, err = _finish(_start(faulty, *command))
    faulty.signal(signal.SIGCONT)
    assert code != 0
    _one_line(err)
    faulty.kill()
    faulty.restart()
    code, _, err = _finish(_start(faulty, *command))
    assert code == 0, err
    names = [b["name"] for b in buckets.list_buckets(faulty.client())]
    assert "fault-remove" not in names
    RELIABILITY["faults"] += 1


@pytest.mark.integration
def test_ctrl_c_during_a_big_put(faulty: Faulty, tmp_path: Path) -> None:
    """SIGINT: the command stops, aborts its upload, says what was and was not done, exits 130."""
    client = faulty.client()
    client.create_bucket(Bucket="fault-ctrl-c")
    big = _big_file(tmp_path / "big.bin")
    child = _start(faulty, "bucket", "put", str(big), "s3://fault-ctrl-c/big.bin", "--quiet")
    _until(lambda: faulty.open_uploads("fault-ctrl-c") > 0, child)
    assert child.poll() is None, "the upload ended before Ctrl-C could be sent"
    child.send_signal(signal.SIGINT)
    code, _, err = _finish(child)
    assert code == 130, err
    assert "uploaded 0 of 1 files" in _one_line(err)
    _tally(lost=0, uploads=faulty.open_uploads("fault-ctrl-c"))
    assert faulty.open_uploads("fault-ctrl-c") == 0
    names = [o.key for o in buckets.iter_objects(client, "fault-ctrl-c")]
    assert names == []  # no partial object
    RELIABILITY["faults"] += 1
