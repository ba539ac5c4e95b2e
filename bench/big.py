"""One big object up and down: s3lab and each aws command against a ceiling.

A tuned loop is what a careful engineer would write for raw speed: one boto3 client, parts of a
fixed size sent (UploadPart) or fetched (ranged GetObject) by a pool of threads, each part read
from or written to the file at its own offset. It runs over a small grid of part sizes and
thread counts. The ceiling is the fastest of everything measured: every point of the grid and
every contender, s3lab included, so it is never below what something here did. s3lab
(``s3lab bucket put`` / ``get``, the command as typed) and each aws command (``aws s3 cp``)
move the same file, each the best of its runs (two, or ``--repeat``; one in a quick run). The
runs go in rounds, every contender once a round, in the opposite order every other round, each
started from the same state of the machine (:func:`settle`), outside the timing; each series
of gets (the grid's, the contenders') comes after one untimed get (:func:`untimed_get`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from s3lab.buckets import engines

MIB = 1024 * 1024
#: (part size in MiB, threads): the ceiling's grid; the quick run uses the last row only.
GRID = [(8, 8), (16, 16), (64, 8), (64, 16)]
QUICK_GRID = [(5, 2)]  # S3 parts are 5 MiB at least

#: How long a run waits, on a VM that hands freed memory back to its host
#: (:func:`s3lab.buckets.engines.page_cache_is_slow`), for the memory the run before it freed
#: to be handed back.
SETTLE_S = 6.0


def settle(*, quick: bool) -> float:
    """Start a run from the state every run meets: no pending writes, no memory at hand.

    The disk's pending writes are flushed, so each run pays for its own only. And on a VM that
    hands freed memory back to its host, a page the host has taken back costs a fault on the
    host when it is used again: 2 s more per GiB of page cache here. A download that started
    right after another one freed its gigabyte found those pages still at hand and took 1.6 s;
    one that started a few seconds later took 3 s, whichever tool it was. So the order, not the
    tool, decided the get row. Waiting :data:`SETTLE_S` puts every run in the second case, the
    one a command typed after a pause meets. Returns the seconds waited (0 in a quick run).
    """
    os.sync()
    if quick or not engines.page_cache_is_slow():
        return 0.0
    time.sleep(SETTLE_S)
    return SETTLE_S


def make_file(path: Path, size: int) -> Path:
    """``size`` random bytes (incompressible, so no layer can cheat), written 64 MiB at a time."""
    block = os.urandom(min(size, 64 * MIB))
    with path.open("wb") as out:
        left = size
        while left:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return path


def untimed_get(endpoint_url: str, bucket: str, key: str, path: Path, *, quick: bool) -> None:
    """One get, not timed, before a series of timed ones: so that the first has their past.

    The first get after uploads met memory no get had freed yet: 2.2 s where every later one
    took 3.5 s, whoever ran it (bench runs of 2026-12-04, with :func:`settle`). After this one,
    every timed get follows the same things: a gigabyte written, removed, and the settle.
    """
    settle(quick=quick)
    bare_get(bare_client(endpoint_url, 8), bucket, key, path, 8 * MIB, 8)
    path.unlink()


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
    clis: list[Any],
    *,
    quick: bool,
    repeat: int = 1,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Time every contender up and down on one file of ``size`` bytes.

    ``run(command)`` times s3lab's command, ``run(command, contender)`` an aws one; ``clis`` are
    bench.contenders' runnable ones.
    Returns the best ``seconds`` of each, their ``spread`` (fastest, slowest), every one of their
    ``runs`` in order, the grid and ``settle_s``, what :func:`settle` waited before each run.
    """
    source = make_file(work / "big.bin", size)
    back = work / "big.back"
    seconds: dict[str, float] = {}
    spread: dict[str, list[float]] = {}
    grid: list[dict[str, float]] = []
    times: dict[str, list[float]] = {}
    waited = 0.0

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
            waited = settle(quick=quick)
            up = timed(bare_put, client, source, bucket, key, part, threads)
            if not grid:
                untimed_get(endpoint_url, bucket, key, back, quick=quick)
            settle(quick=quick)
            down = timed(bare_get, client, bucket, key, back, part, threads)
            checked("the bare loop", back)
            client.delete_object(Bucket=bucket, Key=key)
            grid.append({"part_mib": part_mib, "threads": threads, "up_s": up, "down_s": down})
            log(f"  bare loop, {part_mib:3} MiB parts x {threads:2} threads: up {up:6.2f} s, "
                f"down {down:6.2f} s")  # fmt: skip
        # Each contender gets its best of two runs (or of --repeat), as the grid's best counts.
        tries = 1 if quick else max(2, repeat)
        who_runs = [("s3lab", [*s3lab_cmd, "put", "--quiet"], [*s3lab_cmd, "get", "--quiet"],
                     None)]  # fmt: skip
        for c in clis:
            cp = [*c.argv, "s3", "cp", "--only-show-errors"]
            who_runs.append((c.name, cp, cp, c))
        # s3lab's copy stays for the mount reads (bench/mounts.py reads s3lab.bin)
        urls = [f"s3://{bucket}/{'s3lab' if who == 's3lab' else f'contender-{number}'}.bin"
                for number, (who, *_) in enumerate(who_runs)]  # fmt: skip
        order = list(zip(who_runs, urls, strict=True))
        for direction in ("up", "down"):
            if direction == "down":
                untimed_get(endpoint_url, bucket, "s3lab.bin", back, quick=quick)
            # Rounds, every contender once a round, the order reversed every other round: a
            # slow minute of the machine (or a place in the order) then falls on everyone alike.
            for attempt in range(tries):
                for (who, up, down, contender), url in order[:: -1 if attempt % 2 else 1]:
                    settle(quick=quick)
                    if direction == "up":
                        took = run([*up, str(source), url], contender)
                    else:
                        took = run([*down, url, str(back)], contender)
                        checked(who, back)
                    times.setdefault(f"{who} {direction}", []).append(took)
        for who, *_ in who_runs:
            for name in (f"{who} up", f"{who} down"):
                seconds[name], spread[name] = min(times[name]), [min(times[name]), max(times[name])]
        seconds["ceiling up"] = min([row["up_s"] for row in grid] + [
            v for k, v in seconds.items() if k.endswith(" up")])  # fmt: skip
        seconds["ceiling down"] = min([row["down_s"] for row in grid] + [
            v for k, v in seconds.items() if k.endswith(" down")])  # fmt: skip
        for who, value in seconds.items():
            log(f"  {who:24} {value:7.2f} s  ({size / MIB / value:7.1f} MiB/s)")
    finally:
        source.unlink(missing_ok=True)
        back.unlink(missing_ok=True)
    return {"seconds": seconds, "spread": spread, "grid": grid, "settle_s": waited, "runs": times}
