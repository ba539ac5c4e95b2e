"""s3lab's state files survive a crash, damage and a crowd.

A child process running s3lab's own writer is killed (SIGKILL) mid-write, again and again: the
record is then the old one or the new one, whole, never half a file. Damaged files (truncated,
not JSON, the wrong shape) are read as "no record", never as an exception. Processes updating
``uploads.json`` at once keep every one of their entries (the lock).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from s3lab import mount, sandbox, statefiles
from s3lab.buckets import uploads
from s3lab.sandbox import ceph
from tests.support import RELIABILITY, ROOT

# A child that records a sandbox over and over, each record about 400 KB (so that writing one
# takes long enough for a kill to land in the middle of it), numbered by its ``pid`` field.
WRITER = """
import sys
from s3lab import sandbox
home = sys.argv[1]
print("ready", flush=True)
n = 0
while True:
    n += 1
    box = sandbox.Sandbox("moto", n, 1, "http://127.0.0.1:1", "x" * 400_000, float(n))
    sandbox._write_state(box, home)
"""

KILLS = 12


def test_a_record_killed_mid_write_is_old_or_new_never_half(tmp_path: Path) -> None:
    state = tmp_path / "sandbox" / "moto.json"
    seen = []
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        try:
            child.wait(timeout=random.uniform(0.05, 0.4))  # it never ends by itself
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        RELIABILITY["faults"] += 1
        if not state.exists():
            continue  # killed before its first record was complete: no record, not half of one
        raw = json.loads(state.read_text())  # whole JSON, whatever instant the kill came at
        found = sandbox._read_state("moto", tmp_path)
        assert found is not None and found.log == "x" * 400_000 and found.pid == raw["pid"]
        seen.append(found.pid)
    assert seen, "no record was ever complete: the kills came too early to test anything"
    assert oct(state.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "text", ["", "{", '{"backend": "moto", "pid"', "[1, 2]", '"a string"', "\xff\xfe", "null"]
)
def test_damaged_state_files_read_as_no_record(tmp_path: Path, text: str) -> None:
    """Every state reader, on every kind of damage: no record, no exception."""
    home = tmp_path / "home"
    folder = home / "sandbox"
    folder.mkdir(parents=True)
    for name in ("moto.json", "moto.ports.json", "server.json"):
        (folder / name).write_text(text, encoding="latin-1")
    assert sandbox._read_state("moto", home) is None
    assert sandbox._remembered_ports("moto", home) == []
    assert sandbox.status("server", home=home)[0].state == "stopped"
    (folder / "ceph").mkdir()
    (folder / "ceph" / "daemons.json").write_text(text, encoding="latin-1")
    assert ceph._records(folder / "ceph") == {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("S3LAB_HOME", str(home))
        home.joinpath("uploads.json").write_text(text, encoding="latin-1")
        assert uploads._load() == []
        record = mount._record_path("/some/dir")
        record.write_text(text, encoding="latin-1")
        assert mount._read_record("/some/dir") is None
    RELIABILITY["cases"] += 1


def test_a_record_with_unknown_fields_is_no_record(tmp_path: Path) -> None:
    statefiles.write_json(tmp_path / "sandbox" / "moto.json", {"backend": "moto", "colour": 1})
    assert sandbox._read_state("moto", tmp_path) is None


# Each child records 25 uploads of its own, one update at a time, all at once with the others.
RECORDER = """
import sys
from types import SimpleNamespace
from s3lab.buckets import uploads
client = SimpleNamespace(meta=SimpleNamespace(endpoint_url="http://127.0.0.1:1"))
who = sys.argv[1]
for n in range(25):
    uploads.record(client, "bucket", [f"{who}-{n}"])
"""


def test_concurrent_updates_of_uploads_json_keep_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LAB_HOME", str(tmp_path))
    children = [
        subprocess.Popen([sys.executable, "-c", RECORDER, f"p{n}"], cwd=ROOT) for n in range(4)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    keys = sorted(r["key"] for r in uploads._load())
    assert keys == sorted(f"p{p}-{n}" for p in range(4) for n in range(25))
    client = SimpleNamespace(meta=SimpleNamespace(endpoint_url="http://127.0.0.1:1"))
    uploads.forget(client, "bucket", keys[:50])
    assert len(uploads._load()) == 50
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers  # every temporary file was renamed into place
