"""Helpers for the FUSE tests: find the mount programs (or say why not), run one behaviour."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3lab.mount import semantics
from s3lab.mount import tools as mount_tools
from tests.support import unavailable

STANDINS = Path(__file__).resolve().parents[1] / "standins"


def need_fuse() -> None:
    """Skip (with the reason printed) when this machine cannot mount; in CI, fail instead."""
    if not Path("/dev/fuse").exists():
        pytest.skip("no /dev/fuse on this machine: FUSE mounts are impossible here")


def need(tool: str) -> str:
    """The program for ``tool``; a missing one skips, except in CI where set-up installs it."""
    need_fuse()
    program = mount_tools.find_program(tool)
    if program is None:
        reason = f"{mount_tools.PROGRAMS[tool]} is not installed (run `bash tasks.sh setup`)"
        unavailable(reason, "the FUSE tests")
    return program


@dataclass
class Seen:
    """What a behaviour's command really did in a mount."""

    works: bool
    stderr: str
    value: int | None = None


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def observe(directory: str, client: Any, bucket: str, name: str) -> Seen:
    """Run behaviour ``name``'s shell command in a fresh folder of the mount and look in S3 too.

    "works" means the command succeeded AND S3 shows its effect, so a mount that only pretends
    (a file that never reaches the bucket) counts as failing.
    """
    folder = f"probe-{name}"
    where = Path(directory) / folder
    where.mkdir()
    result = subprocess.run(
        ["bash", "-c", semantics.COMMANDS[name]],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    works = result.returncode == 0
    keys = _keys(client, bucket, f"{folder}/")

    def body(key: str) -> bytes:
        return client.get_object(Bucket=bucket, Key=f"{folder}/{key}")["Body"].read()

    value = None
    if name == "sequential_write":
        works = works and body("new.txt") == b"hello\n"
    elif name == "append":
        works = works and body("a.txt") == b"one\ntwo\n"
    elif name == "overwrite":
        works = works and body("o.txt") == b"two\n"
    elif name == "delete":
        works = works and f"{folder}/d.txt" not in keys
    elif name == "rename_file":
        works = works and f"{folder}/m2.txt" in keys and f"{folder}/m.txt" not in keys
    elif name == "rename_dir":
        works = works and f"{folder}/dd2/f.txt" in keys and f"{folder}/dd/f.txt" not in keys
    elif name == "empty_dir_in_s3":
        assert works, result.stderr  # mkdir itself works everywhere
        works = any(key.startswith(f"{folder}/empty/") for key in keys)
    elif name == "symlink":
        works = works and (where / "link").readlink() == Path("t.txt")
    elif name == "df_size":
        value = int(result.stdout.splitlines()[1].split()[1])
    return Seen(works, result.stderr, value)
