"""Servers that misbehave: one that never answers, one killed mid-copy or under a mount, Ctrl-C.

Every server here is started by the test on 127.0.0.1: a socket that never answers, and a
sandbox of each backend (moto and SeaweedFS) of this module's own, killed (SIGKILL) or stopped
(SIGSTOP) and started again for the next test. The session's shared sandboxes are never
touched. No timed assertions: a command either ends (with one line naming the endpoint and a
fix) before the hang guard, or the test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3lab import buckets, clients, mount, processes, sandbox
from tests.support import RELIABILITY, RELIABILITY_BY, ROOT, cli
from tests.support.mounts import need

HANG_GUARD = 90  # seconds: far above the worst case of the settings below (about 10 s)


@dataclass
class Silent:
    """A socket on 127.0.0.1 that accepts connections, reads, and never writes a byte."""

    url: str
    received: dict[int, bytes]  # what each connection sent, by its number

    def requests(self) -> int:
        """How many HTTP requests arrived (each one a try of a client that then gave up)."""
        return sum(len(_REQUEST_LINE.findall(data)) for data in self.received.values())


_REQUEST_LINE = re.compile(rb"^(?:GET|PUT|POST|HEAD|DELETE) \S+ HTTP/1\.1\r$", re.MULTILINE)


@contextlib.contextmanager
def _silent() -> Iterator[Silent]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    found = Silent(f"http://127.0.0.1:{listener.getsockname()[1]}", {})
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                conn.setblocking(False)
                held.append(conn)  # kept open, never answered
            for number, other in enumerate(held):
                with contextlib.suppress(OSError):
                    # drain, so a sender is never blocked by a full buffer; keep it to count
                    found.received[number] = found.received.get(number, b"") + other.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The address of a server that accepts connections and never answers."""
    with _silent() as found:
        yield found.url


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
        _survived("socket")


def test_the_documented_patience_is_30_seconds_at_most() -> None:
    """Each try waits to connect, then for an answer; the backoff between tries (botocore's
    standard mode: a random share of 1 s, then of 2 s, at most 20 s) adds up to the rest."""
    tries = clients.ATTEMPTS
    backoff = sum(min(2**n, 20) for n in range(tries - 1))
    assert tries * (clients.CONNECT_TIMEOUT + clients.READ_TIMEOUT) + backoff <= 30
    assert clients.stall_seconds() <= 30  # the copy engine's own limit, the same numbers
    page = (ROOT / "book" / "troubleshooting.md").read_text()
    assert "**30 seconds at most**" in page and "3 × (3 + 6) + 1 + 2 = 30" in page


BUCKET_VERBS = [c for c in HANG_COMMANDS if c[0] == "bucket"]


@pytest.mark.integration
def test_every_bucket_verb_gives_up_within_its_tries(tmp_path: Path) -> None:
    """On a silent server each verb sends at most ATTEMPTS requests, then stops with one line.

    No timed assertion: each request waits at most the read timeout, so at most ATTEMPTS
    requests means at most the documented total (the test above). Short timeouts keep it fast;
    the count of tries is the default's.
    """
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "one.txt").write_text("one\n")
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(_silent()) for _ in BUCKET_VERBS]
        children = []
        for command, server in zip(BUCKET_VERBS, servers, strict=True):
            env = {**_env(server.url, tmp_path), "S3LAB_ATTEMPTS": str(clients.ATTEMPTS)}
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
        for command, child, server in zip(BUCKET_VERBS, children, servers, strict=True):
            _, err = child.communicate(timeout=HANG_GUARD)
            assert child.returncode != 0 and "Traceback" not in err, (command, err)
            assert err.strip().splitlines()[-1].startswith("error: "), (command, err)
            assert 1 <= server.requests() <= clients.ATTEMPTS, (command, server.requests())
            _survived("socket")


@pytest.mark.integration
def test_doctor_names_the_port_that_answers(
    silent_server: str, tmp_path: Path, server: Any
) -> None:
    """A profile on a wrong local port (here: one that never answers) gets the sandbox's port."""
    env = {**_env(silent_server, tmp_path), "S3LAB_HOME": os.environ["S3LAB_HOME"]}
    done = subprocess.run(
        [sys.executable, "-m", "s3lab.cli", "doctor"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    assert done.returncode != 0 and "did not answer" in done.stdout, done.stdout
    for name in ("moto", "server"):
        box = sandbox.running(name)
        assert box is not None
        assert f"the {name} sandbox answers on port {box.port}" in done.stdout, done.stdout
    _survived("socket")


# --- a sandbox (moto or SeaweedFS) killed (SIGKILL) or stopped (SIGSTOP) mid-operation --------

BIG = 64 * 1024 * 1024  # multipart: eight 8 MiB parts
GUARD = 120  # seconds any one command may take before the test calls it hung


@dataclass
class Faulty:
    """This module's own sandbox of one backend, in its own S3LAB_HOME: the tests kill it.

    moto keeps everything in memory, so a killed moto comes back empty; SeaweedFS keeps its
    data on disk.
    """

    backend: str
    home: Path
    box: sandbox.Sandbox

    def env(self, **patience: str) -> dict[str, str]:
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
        env.update(patience)
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
        """Start it again (same ports if free, same data folder): moto comes back empty."""
        self.box = sandbox.start(self.backend, home=self.home)

    def resume(self) -> None:
        """After SIGSTOP: continue it. (Killing and restarting it instead would empty moto, and
        costs SeaweedFS 10-20 s while its master waits out a Raft election timeout.)"""
        self.signal(signal.SIGCONT)

    def open_uploads(self, bucket: str) -> int:
        return len(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.fixture(scope="module", params=sandbox.SANDBOXES)
def faulty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faulty]:
    backend = request.param
    home = tmp_path_factory.mktemp(f"faulty-{backend}")
    server = Faulty(backend, home, sandbox.start(backend, home=home))
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.signal(signal.SIGCONT)  # a stopped server cannot stop itself
        sandbox.stop(home=home)


def _survived(backend: str) -> None:
    RELIABILITY["faults"] += 1
    RELIABILITY_BY[backend]["faults"] += 1


def _start_cli(env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
    """The real ``s3lab`` command in a child: these tests are about the process (its exit code,
    its signals, how long it may take), so not the in-process ``cli()``."""
    return subprocess.Popen(
        [sys.executable, "-m", "s3lab.cli", *args],
        env=dict(env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a pytest-xdist worker ignores SIGINT, and a child would inherit that
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(faulty: Faulty, *args: str) -> subprocess.Popen[str]:
    return _start_cli(faulty.env(), *args)


def _reaper(record: mount.Mount) -> Callable[[], None]:
    """Collect a mount program this process started once it has exited (no zombie left)."""

    def reap() -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)

    return reap


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
    if faulty.backend == "moto":  # moto came back empty: no parts to resume, a fresh upload
        faulty.client().create_bucket(Bucket="fault-put")
    # The run after the restart is a person's retry, with s3lab's own patience: a SeaweedFS just
    # restarted on a loaded machine went 4 s without answering (this module's 1 s timeouts' stall
    # limit) while it loaded its volumes, and the retry was called stalled.
    retry = faulty.env()
    for name in ("S3LAB_READ_TIMEOUT", "S3LAB_CONNECT_TIMEOUT", "S3LAB_ATTEMPTS"):
        del retry[name]
    code, _, err = _finish(_start_cli(retry, "bucket", "put", str(big), "s3://fault-put/big.bin"))
    assert code == 0, err
    client = faulty.client()
    size = client.head_object(Bucket="fault-put", Key="big.bin")["ContentLength"]
    _tally(lost=int(size != BIG), uploads=faulty.open_uploads("fault-put"))
    assert size == BIG
    assert faulty.open_uploads("fault-put") == 0  # the killed run's upload was aborted
    _survived(faulty.backend)


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
    faulty.resume()
    assert code != 0
    _one_line(err)
    code, _, err = _finish(_start(faulty, "bucket", "sync", str(data), "s3://fault-sync/d"))
    assert code == 0, err
    keys = [o.key for o in buckets.iter_objects(faulty.client(), "fault-sync")]
    _tally(lost=150 - len(keys), uploads=faulty.open_uploads("fault-sync"))
    assert len(keys) == 150
    _survived(faulty.backend)


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
    faulty.resume()
    assert code != 0
    _one_line(err)
    code, _, err = _finish(_start(faulty, *command))
    assert code == 0, err
    names = [b["name"] for b in buckets.list_buckets(faulty.client())]
    assert "fault-remove" not in names
    _survived(faulty.backend)


@pytest.mark.integration
def test_ctrl_c_during_a_big_put(faulty: Faulty, tmp_path: Path) -> None:
    """SIGINT: the command stops, aborts its upload, says what was and was not done, exits 130."""
    client = faulty.client()
    client.create_bucket(Bucket="fault-ctrl-c")
    big = _big_file(tmp_path / "big.bin")
    # Someone else's upload of the same key, open before s3lab's: the clean-up must leave it.
    theirs = client.create_multipart_upload(Bucket="fault-ctrl-c", Key="big.bin")["UploadId"]
    # The clean-up after Ctrl-C lists and aborts uploads while the server is still busy with the
    # parts in flight: moto (Python) then takes seconds to answer, more on a loaded machine (a
    # clean-clone run under four test workers left the upload open with 10 s). With this module's
    # 1 s, s3lab would rightly leave the upload to the next run's clean-up; this test wants this
    # run's.
    env = faulty.env(S3LAB_READ_TIMEOUT="30")
    child = _start_cli(env, "bucket", "put", str(big), "s3://fault-ctrl-c/big.bin", "--quiet")
    _until(lambda: faulty.open_uploads("fault-ctrl-c") > 1, child)
    assert child.poll() is None, "the upload ended before Ctrl-C could be sent"
    child.send_signal(signal.SIGINT)
    code, _, err = _finish(child)
    assert code == 130, err
    assert "uploaded 0 of 1 files" in _one_line(err)
    # s3lab's upload was aborted before the command exited, by its own id: not left to the
    # transfer engine's clean-up (which may not get to it before the process ends), nor told
    # by the server's Initiated date (moto dates every upload 2010-11-10).
    left = client.list_multipart_uploads(Bucket="fault-ctrl-c").get("Uploads", [])
    client.abort_multipart_upload(Bucket="fault-ctrl-c", Key="big.bin", UploadId=theirs)
    _tally(lost=0, uploads=len([u for u in left if u["UploadId"] != theirs]))
    assert [u["UploadId"] for u in left] == [theirs]
    names = [o.key for o in buckets.iter_objects(client, "fault-ctrl-c")]
    assert names == []  # no partial object
    _survived(faulty.backend)


# --- mounts of a server that dies: rclone and s3fs --------------------------------------------

# Seconds a read or a write under a dead server's mount may take before the test calls it hung.
# With s3lab's timeouts each ends in a few seconds (s3fs sleeps 4 s after a refused connection);
# with the programs' own defaults, rclone's read hung for about 4 minutes (measured).
MOUNT_GUARD = 60
MOUNT_TOOLS = ("rclone", "s3fs")
# Opens a file (to read or to write), says so, and once told to go on reads it all or writes and
# closes it: a read or a write under way when the server dies. An error in the read, the write
# or the close (where both programs upload) is printed, and the exit code is 1.
_HOLDER = """
import sys
path, mode = sys.argv[1:]
handle = open(path, "rb" if mode == "read" else "wb", buffering=0)
print("open", flush=True)
sys.stdin.readline()
try:
    handle.read() if mode == "read" else handle.write(b"new\\n")
    handle.close()
except OSError as exc:
    sys.exit(f"error: {exc}")
"""


def _bounded(child: subprocess.Popen[str], programs: list[mount.Mount]) -> tuple[int, str]:
    """The child's exit code and stderr; if it hangs, its mount programs are killed (that ends a
    FUSE request the kernel would wait on for minutes, even after the child is killed)."""
    try:
        _, err = child.communicate(timeout=MOUNT_GUARD)
    except subprocess.TimeoutExpired:
        for record in programs:
            if processes.is_running(record.identity()):
                os.kill(record.pid, signal.SIGKILL)
        child.kill()
        child.communicate()
        pytest.fail(f"still waiting after {MOUNT_GUARD} s under a dead server: {child.args}")
    return child.returncode, err


@pytest.mark.integration
def test_mounts_of_a_killed_server(
    faulty: Faulty, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the server under an rclone and an s3fs mount: a read and a write fail with an
    error instead of hanging, `s3lab unmount` still cleans up, and once the mount program has
    died too, the next `s3lab mount` on its folder clears the stale mount and mounts."""
    for tool in MOUNT_TOOLS:
        need(tool)
    # One try per request: s3fs sleeps 4 s after each refused connection.
    for name, value in faulty.env(S3LAB_ATTEMPTS="1").items():
        monkeypatch.setenv(name, value)
    bucket = "fault-mount"
    faulty.client().create_bucket(Bucket=bucket)
    faulty.client().put_object(Bucket=bucket, Key="kept.txt", Body=b"kept\n")
    live = {tool: mount.mount(bucket, tmp_path / f"{tool}-live", tool=tool) for tool in MOUNT_TOOLS}
    dying = {
        tool: mount.mount(bucket, tmp_path / f"{tool}-dies", tool=tool) for tool in MOUNT_TOOLS
    }
    programs = [*live.values(), *dying.values()]
    try:
        for done in programs:  # each mount works, and has seen the file
            assert (Path(done.directory) / "kept.txt").read_bytes() == b"kept\n"
        # A read and a write under way when the server dies, in two mounts of each tool, all at
        # once: opened before, read or written after. (s3fs answers one request after another
        # and sleeps 4 s after each refused connection: a `cat` or `cp` started afterwards asks
        # it for up to 8 lookups first.)
        children = {}
        for tool in MOUNT_TOOLS:
            for what, where in (("read", live[tool]), ("write", dying[tool])):
                name = "kept.txt" if what == "read" else "new.txt"
                children[tool, what] = subprocess.Popen(
                    [sys.executable, "-c", _HOLDER, f"{where.directory}/{name}", what],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
        for child in children.values():
            assert child.stdout is not None and child.stdout.readline() == "open\n"
        faulty.kill()
        for child in children.values():
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for (tool, what), child in children.items():
            code, err = _bounded(child, programs)
            # A write whose upload failed is not data kept: only an error is right here.
            assert code != 0 and "error" in err.lower(), (tool, what, code, err)
        # `s3lab unmount` (the real command, bounded) with the server still dead
        unmounts = {
            tool: _start_cli(os.environ, "unmount", done.directory) for tool, done in live.items()
        }
        for tool, child in unmounts.items():
            code, out, err = _finish(child)
            assert code == 0 and out.startswith("unmounted "), (tool, out, err)
            assert live[tool].directory not in mount.fuse_mounts()
            assert processes.wait_gone(live[tool].identity(), 10, reap=_reaper(live[tool]))
        # The other mounts' programs die too (a closed terminal, a crash): stale mounts
        for done in dying.values():
            assert not processes.mismatch(done.identity())
            os.kill(done.pid, signal.SIGKILL)
            assert processes.wait_gone(done.identity(), 10, reap=_reaper(done))
            deadline = time.monotonic() + 10  # the kernel ends the FUSE connection
            while not mount.is_stale(done.directory) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert mount.is_stale(done.directory)
        faulty.restart()
        if faulty.backend == "moto":  # moto came back empty
            faulty.client().create_bucket(Bucket=bucket)
            faulty.client().put_object(Bucket=bucket, Key="kept.txt", Body=b"kept\n")
        for tool, done in dying.items():
            again = cli("mount", bucket, done.directory, "--tool", tool)
            assert again.returncode == 0, again.stderr
            assert "cleaned a stale mount" in again.stderr, again.stderr
            assert (Path(done.directory) / "kept.txt").read_bytes() == b"kept\n"
            assert mount.unmount(done.directory).startswith("unmounted ")
        _survived(faulty.backend)
    finally:
        mount.unmount_all(tmp_path)
