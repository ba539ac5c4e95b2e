"""Benchmark: s3lab against the aws command and a bare tuned boto3 loop, on a SeaweedFS sandbox.

    python bench/run.py            # 10,000-object remove, 1,000 x 4 KiB upload (about 2 minutes)
    python bench/run.py --quick    # 1,000 and 200: a smoke run, numbers too small to mean much
    python bench/run.py --repeat 3 # median of three runs of each

It starts its own SeaweedFS sandbox (in a fresh S3LAB_HOME unless one is set) and stops it at
the end. Each contender works on a bucket filled the same way, on the same server, on the same
machine, so the server's own cost is in every number; only the client differs.

Contenders:
- ``aws``: the aws command (``aws s3 rb --force``, ``aws s3 cp --recursive``), as a person types it.
- ``s3lab``: the s3lab command (``s3lab bucket remove --force``, ``s3lab bucket put``).
- ``bare boto3``: a tuned, concurrent boto3 loop doing the same requests, in this process (the
  ceiling a hand-written script reaches: one client, 32 connections, 16 threads, listing first,
  then DeleteObjects of 1,000 keys, or one PutObject per file).
- ``s3lab (in-process)``: the same s3lab function the command calls, without process start-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from s3lab import buckets, names, sandbox, transfer  # noqa: E402


def command_env(box: sandbox.Sandbox) -> dict[str, str]:
    """The sandbox's variables, the venv's programs first, and no personal AWS files."""
    env = {**os.environ, **box.env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.pop(variable, None)
    return env


def run(command: list[str], env: dict[str, str]) -> None:
    """Run a command; a failure stops the benchmark with its output."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def make_files(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    return folder


def bare_client(box: sandbox.Sandbox):
    """A plain boto3 client, tuned the way a careful script would be."""
    from botocore.config import Config

    return sandbox.session().client(
        "s3",
        endpoint_url=box.endpoint_url,
        config=Config(
            max_pool_connections=32,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def bare_remove(client, bucket: str) -> None:
    """List every key, then DeleteObjects 1,000 at a time in 16 threads, then DeleteBucket."""
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend({"Key": item["Key"]} for item in page.get("Contents", []))
    batches = [keys[i : i + 1000] for i in range(0, len(keys), 1000)]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda b: client.delete_objects(
                    Bucket=bucket, Delete={"Objects": b, "Quiet": True}
                ),
                batches,
            )
        )
    client.delete_bucket(Bucket=bucket)


def bare_upload(client, folder: Path, bucket: str, prefix: str) -> None:
    """One PutObject per file, 16 threads, one shared client."""

    def put(path: Path) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}{path.name}", Body=path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, sorted(folder.iterdir())))


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    parser.add_argument("--objects", type=int, help="objects in the bucket to remove (10000)")
    parser.add_argument("--files", type=int, help="4 KiB files to upload (1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median is shown")
    args = parser.parse_args(argv)
    objects = args.objects or (1000 if args.quick else 10_000)
    files = args.files or (200 if args.quick else 1000)

    work = Path(tempfile.mkdtemp(prefix="s3lab-bench-"))
    home = Path(os.environ.get("S3LAB_HOME") or work / "home")
    os.environ["S3LAB_HOME"] = str(home)
    print(f"starting a SeaweedFS sandbox in {home} ...", file=sys.stderr, flush=True)
    box = sandbox.start("server", home=home)
    env = command_env(box)
    os.environ.update(box.env())
    try:
        client = buckets.client_for("server")
        bare = bare_client(box)
        fill_folder = make_files(work / "fill", objects, 16)
        upload_folder = make_files(work / "upload", files, 4096)
        s3lab_cmd = [sys.executable, "-m", "s3lab.cli", "bucket"]
        results: dict[str, dict[str, list[float]]] = {"remove": {}, "upload": {}}

        def filled() -> str:
            name = buckets.make_bucket(client, names.unique_name("bench"))
            fill = timed(transfer.put, client, fill_folder, f"s3://{name}/k/", quiet=True)
            print(f"  filled {name} with {objects} objects in {fill:.1f} s", file=sys.stderr)
            time.sleep(1)  # let the server settle, the same for every contender
            return name

        def record(task: str, who: str, seconds: float) -> None:
            results[task].setdefault(who, []).append(seconds)
            print(f"  {task:6} {who:22} {seconds:7.2f} s", file=sys.stderr, flush=True)

        for round_ in range(args.repeat):
            print(f"round {round_ + 1}: upload {files} x 4 KiB", file=sys.stderr)
            target = buckets.make_bucket(client, names.unique_name("bench-up"))
            # SeaweedFS allocates storage for a bucket at its first write (seconds): do that
            # before the clock runs, or whoever goes first pays for it.
            client.put_object(Bucket=target, Key="warm-up", Body=b"x")
            up = {who: f"s3://{target}/r{round_}{who}/" for who in ("aws", "s3lab", "bare", "fn")}
            folder = str(upload_folder)
            aws_cp = ["aws", "s3", "cp", "--recursive", "--only-show-errors", folder, up["aws"]]
            record("upload", "aws s3 cp --recursive", timed(run, aws_cp, env))
            s3lab_put = [*s3lab_cmd, "put", "--quiet", folder, up["s3lab"]]
            record("upload", "s3lab bucket put", timed(run, s3lab_put, env))
            bare_prefix = buckets.split_url(up["bare"])[1]
            record(
                "upload", "bare boto3", timed(bare_upload, bare, upload_folder, target, bare_prefix)
            )
            seconds = timed(transfer.put, client, upload_folder, up["fn"], quiet=True)
            record("upload", "s3lab (in-process)", seconds)
            for who, url in up.items():
                count = buckets.usage(client, target, buckets.split_url(url)[1]).objects
                if count != files:
                    sys.exit(f"upload by {who} left {count} objects, not {files}")
            buckets.remove_bucket(client, target, force=True)

            print(f"round {round_ + 1}: remove {objects} objects", file=sys.stderr)
            name = filled()
            aws_rb = ["aws", "s3", "rb", f"s3://{name}", "--force"]
            record("remove", "aws s3 rb --force", timed(run, aws_rb, env))
            name = filled()
            s3lab_rm = [*s3lab_cmd, "remove", name, "--force"]
            record("remove", "s3lab bucket remove", timed(run, s3lab_rm, env))
            name = filled()
            record("remove", "bare boto3", timed(bare_remove, bare, name))
            name = filled()
            seconds = timed(buckets.remove_bucket, client, name, force=True)
            record("remove", "s3lab (in-process)", seconds)

        print()
        print(
            f"SeaweedFS on 127.0.0.1, {os.cpu_count()} cores shared by client and server; "
            f"median of {args.repeat} run(s)"
        )
        for task, label in (
            ("remove", f"remove a bucket of {objects:,} objects"),
            ("upload", f"upload {files:,} x 4 KiB files"),
        ):
            times = {who: median(values) for who, values in results[task].items()}
            aws = next(v for k, v in times.items() if k.startswith("aws"))
            bare_time = times["bare boto3"]
            print(f"\n{label}")
            print(
                f"  {'contender':24} {'seconds':>8}  {'ratio: aws / this':>18}  {'bare / this':>12}"
            )
            for who, seconds in times.items():
                ratios = f"{aws / seconds:17.1f}x  {bare_time / seconds:11.2f}x"
                print(f"  {who:24} {seconds:8.2f}  {ratios}")
        print("\n(ratio > 1: faster than the aws command, or than the bare boto3 loop)")
    finally:
        sandbox.stop("server", home=home)
        shutil.rmtree(work, ignore_errors=True)  # 11,000 files and, by default, the sandbox
    return 0


if __name__ == "__main__":
    sys.exit(main())
