"""Reading one big object through a mounted folder, against a direct GET of the same object.

Each mount tool installed here (rclone, s3fs; Mountpoint where it can be installed) mounts the
bucket read-only with ``s3lab.mount`` (the flags the book uses), and the file is read from start
to end in 1 MiB reads, as ``cp`` or a program reading a file would. The direct GET is one
GetObject streamed in 1 MiB chunks: one connection, like a mount's sequential read. Every mount
is unmounted in a ``finally``, whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def read_file(path: Path) -> int:
    """Read ``path`` sequentially in 1 MiB reads; returns the bytes read."""
    total = 0
    with path.open("rb", buffering=0) as source:
        while chunk := source.read(MIB):
            total += len(chunk)
    return total


def direct_get(client: Any, bucket: str, key: str) -> int:
    """One GetObject, streamed and dropped 1 MiB at a time; returns the bytes read."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    return sum(len(chunk) for chunk in body.iter_chunks(MIB))


def measure(
    client: Any, bucket: str, key: str, size: int, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """Seconds to read ``key`` directly and through each installed tool; and the tools skipped."""
    from s3lab import mount as mounting
    from s3lab.errors import S3LabError
    from s3lab.mount.tools import TOOLS, find_program

    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    start = time.perf_counter()
    if direct_get(client, bucket, key) != size:
        raise SystemExit("the direct GET read the wrong number of bytes")
    seconds["direct GET"] = time.perf_counter() - start
    for tool in TOOLS:
        if not find_program(tool):
            skipped[tool] = "not installed on this machine"
            log(f"  {tool}: skipped, not installed")
            continue
        folder = work / f"mnt-{tool}"
        try:
            mounting.mount(bucket, folder, tool=tool, read_only=True)
        except S3LabError as exc:
            skipped[tool] = exc.one_line()
            log(f"  {tool}: skipped, {exc.one_line()}")
            continue
        try:
            start = time.perf_counter()
            got = read_file(folder / key)
            seconds[f"{tool} mount"] = time.perf_counter() - start
            if got != size:
                raise SystemExit(f"reading through {tool} gave {got} bytes, not {size}")
        finally:
            mounting.unmount(folder)
    for who, value in seconds.items():
        log(f"  {who:16} {value:7.2f} s  ({size / MIB / value:7.1f} MiB/s)")
    return {"seconds": seconds, "skipped": skipped}
