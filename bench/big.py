"""One big object up and down: s3lab and the aws command against the server's own ceiling.

The ceiling is a bare loop a careful engineer would write for raw speed: one boto3 client,
parts of a fixed size sent (UploadPart) or fetched (ranged GetObject) by a pool of threads,
each part read from or written to the file at its own offset. It runs over a small grid of part
sizes and thread counts, and the fastest of the grid is the ceiling: the most this client
machine and this server do together. s3lab (``s3lab bucket put`` / ``get``, the command as
typed) and ``aws s3 cp`` move the same file, each the best of two runs (one in a quick run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
#: (part size in MiB, threads): the ceiling's grid; the quick run uses the last row only.
GRID = [(8, 8), (16, 16), (64, 8), (64, 16)]
QUICK_GRID = [(5, 2)]  # S3 parts are 5 MiB at least


def make_file(path: Path, size: int) -> Path:
    """``size`` random bytes (incompressible, so no layer can cheat), written 64 MiB at a time."""
    block = os.urandom(min(size, 64 * MIB))
    with path.open("wb") as out:
        left = size
        while left:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return path


def bare_put(client: Any, path: Path, bucket: str, key: str, part: int, threads: int) -> None:
    """A multipart upload, ``threads`` parts at a time, each part read at its offset."""
    size = path.stat().st_size
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    fd = os.open(path, os.O_RDONLY)

    def send(number: int) -> dict[str, Any]:
        body = os.pread(fd, part, (number - 1) * part)
        done = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": done["ETag"]}

    try:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(send, range(1, -(-size // part) + 1)))
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise
    finally:
        os.close(fd)


def bare_get(client: Any, bucket: str, key: str, path: Path, part: int, threads: int) -> None:
    """Ranged GETs, ``threads`` at a time, each written at its offset of a preallocated file."""
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, size)

    def fetch(start: int) -> None:
        end = min(start + part, size) - 1
        body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]
        offset = start
        for chunk in body.iter_chunks(MIB):
            os.pwrite(fd, chunk, offset)
            offset += len(chunk)

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fetch, range(0, size, part)))
    finally:
        os.close(fd)


def bare_client(endpoint_url: str, threads: int) -> Any:
    """A plain boto3 client with the sandbox's keys, a connection per thread, no extra checksums."""
    from botocore.config import Config

    from s3lab import sandbox

    return sandbox.session().client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            max_pool_connections=threads,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def measure(
    bucket: str,
    endpoint_url: str,
    size: int,
    work: Path,
    run: Callable[[list[str]], float],
    s3lab_cmd: list[str],
    *,
    quick: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Time every contender up and down on one file of ``size`` bytes; returns seconds and grid."""
    source = make_file(work / "big.bin", size)
    back = work / "big.back"
    seconds: dict[str, float] = {}
    grid: list[dict[str, float]] = []

    def timed(action: Callable[..., object], *args: object) -> float:
        start = time.perf_counter()
        action(*args)
        return time.perf_counter() - start

    def checked(who: str, path: Path) -> None:
        if path.stat().st_size != size:
            raise SystemExit(f"{who} downloaded {path.stat().st_size} bytes, not {size}")
        path.unlink()

    try:
        for part_mib, threads in QUICK_GRID if quick else GRID:
            client = bare_client(endpoint_url, threads)
            part = part_mib * MIB
            key = f"bare-{part_mib}-{threads}"
            up = timed(bare_put, client, source, bucket, key, part, threads)
            down = timed(bare_get, client, bucket, key, back, part, threads)
            checked("the bare loop", back)
            client.delete_object(Bucket=bucket, Key=key)
            grid.append({"part_mib": part_mib, "threads": threads, "up_s": up, "down_s": down})
            log(f"  bare loop, {part_mib:3} MiB parts x {threads:2} threads: up {up:6.2f} s, "
                f"down {down:6.2f} s")  # fmt: skip
        seconds["ceiling up"] = min(row["up_s"] for row in grid)
        seconds["ceiling down"] = min(row["down_s"] for row in grid)
        # The ceiling is the best of a grid, so each contender gets its best of two runs too.
        tries = 1 if quick else 2
        for who, key, up, down in (
            ("s3lab", "s3lab.bin", [*s3lab_cmd, "put", "--quiet"], [*s3lab_cmd, "get", "--quiet"]),
            ("aws s3 cp", "aws.bin", *[["aws", "s3", "cp", "--only-show-errors"]] * 2),
        ):
            url = f"s3://{bucket}/{key}"
            seconds[f"{who} up"] = min(run([*up, str(source), url]) for _ in range(tries))
            downs = []
            for _ in range(tries):
                downs.append(run([*down, url, str(back)]))
                checked(who, back)
            seconds[f"{who} down"] = min(downs)
        for who, value in seconds.items():
            log(f"  {who:16} {value:7.2f} s  ({size / MIB / value:7.1f} MiB/s)")
    finally:
        source.unlink(missing_ok=True)
        back.unlink(missing_ok=True)
    return {"seconds": seconds, "grid": grid}
