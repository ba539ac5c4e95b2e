"""Servers that misbehave: one that never answers, one killed mid-copy, and Ctrl-C.

Every server here is started by the test on 127.0.0.1. No timed assertions: a command either
ends (with one line naming the endpoint and a fix) before the hang guard, or the test fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lab import sandbox
from tests.conftest import ROOT

HANG_GUARD = 90  # seconds: far above the worst case of the settings below (about 10 s)
RESULTS: dict[str, int] = {"faults": 0, "lost": 0, "open_uploads": 0}


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
        RESULTS["faults"] += 1
