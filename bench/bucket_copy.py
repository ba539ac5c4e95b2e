"""Benchmark: copying a bucket between two stores, one command against the two-stage way.

    python bench/bucket_copy.py            # 1,000 x 4 KiB and one 64 MiB object (2-3 minutes)
    python bench/bucket_copy.py --quick    # 200 objects and one of 10 MiB
    python bench/bucket_copy.py --repeat 3 # median of three runs of each

``bench/run.py`` runs this too, as its "copy" part. SeaweedFS (the ``server`` sandbox) stands in
for AWS and the ``ceph`` sandbox for Kopah (root, Debian or Ubuntu; SeaweedFS again where Ceph
cannot run). The contenders copy the same bucket to a new, empty one:

- ``two stages``: ``aws s3 sync`` down to a folder, then ``s3cmd sync`` up (the seed's way).
- ``s3lab bucket copy``: streamed through this machine, then verified (the command, as typed).
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from s3lab import backends, buckets, configure, sandbox  # noqa: E402
from s3lab.sandbox import ceph  # noqa: E402


def run(command: list[str], env: dict[str, str]) -> float:
    """Run a command and return its wall time; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - start


def pick_target(wanted: str = "auto") -> str:
    """The store to copy to: ``ceph`` where it can run (for ``auto``), else ``server``."""
    if wanted == "auto":
        return "ceph" if ceph.cannot_run() is None else "server"
    return wanted


def measure(
    count: int,
    big: int,
    *,
    target: str = "auto",
    repeat: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Copy ``count`` x 4 KiB and one ``big`` object from the server sandbox to ``target``.

    Uses (and starts if needed) the sandboxes of the current S3LAB_HOME; a ceph sandbox started
    here is stopped here, and every bucket made here is removed. Returns the median seconds.
    """
    target = pick_target(target)
    scratch = Path(tempfile.mkdtemp(prefix="s3lab-bench-copy-"))
    already = {s.backend for s in sandbox.status() if s.state == "running"}
    saved = {k: os.environ.get(k) for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    source = dest = None
    made: list[str] = []
    try:
        start = time.perf_counter()
        to_box = sandbox.start(target)
        started = time.perf_counter() - start
        from_box = sandbox.start("server")
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AWS_CONFIG_FILE": str(scratch / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "creds"),
        }
        os.environ.update(
            AWS_CONFIG_FILE=env["AWS_CONFIG_FILE"],
            AWS_SHARED_CREDENTIALS_FILE=env["AWS_SHARED_CREDENTIALS_FILE"],
        )
        configure.configure_sandbox("server", profile="from")
        configure.configure_sandbox(target, profile="to")
        configure.configure_s3cmd(backend=target, path=scratch / "s3cfg")
        source = buckets.client_for(backends.resolve("server"))
        dest = buckets.client_for(backends.resolve(target))
        source.create_bucket(Bucket="bench-source")
        body = os.urandom(4096)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda n: source.put_object(
                        Bucket="bench-source", Key=f"small/{n:05d}", Body=body
                    ),
                    range(count),
                )
            )
        source.put_object(Bucket="bench-source", Key="big.bin", Body=os.urandom(big))
        times: dict[str, list[float]] = {}
        for round_ in range(repeat):
            stage = scratch / f"stage-{round_}"
            two, one = f"bench-two-{round_}", f"bench-one-{round_}"
            for name in (two, one):
                dest.create_bucket(Bucket=name)
                made.append(name)
            sync_down = ["aws", "--profile", "from", "s3", "sync", "s3://bench-source", str(stage)]
            down = run([*sync_down, "--only-show-errors"], env)
            s3cmd = ["s3cmd", "-c", str(scratch / "s3cfg"), "sync", "--quiet"]
            up = run([*s3cmd, f"{stage}/", f"s3://{two}/"], env)
            times.setdefault("two stages", []).append(down + up)
            times.setdefault("of which aws s3 sync down", []).append(down)
            times.setdefault("of which s3cmd sync up", []).append(up)
            copy = ["s3lab", "bucket", "copy", "s3://bench-source", f"s3://{one}"]
            seconds = run([*copy, "--from-profile", "from", "--to-profile", "to", "--quiet"], env)
            times.setdefault("s3lab bucket copy", []).append(seconds)
            shutil.rmtree(stage)
        medians = {name: statistics.median(values) for name, values in times.items()}
        log(
            f"  {target} sandbox started in {started:.1f} s "
            f"(from {from_box.backend} to {to_box.backend}, both on this machine)"
        )
        for name, value in medians.items():
            log(f"  {name:28} {value:6.1f} s")
        return {"seconds": medians, "to": target, "objects": count, "big_bytes": big}
    finally:
        for client, names in ((dest, made), (source, ["bench-source"])):
            for name in names:
                if client is not None:
                    buckets.remove_bucket(client, name, force=True)
        if target not in already:
            sandbox.stop(target)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--to", default="auto", help="ceph or server (default: ceph if it runs)")
    args = parser.parse_args()
    count, big = (200, 10 << 20) if args.quick else (1000, 64 << 20)
    mine = not os.environ.get("S3LAB_HOME")
    home = Path(os.environ.get("S3LAB_HOME") or tempfile.mkdtemp(prefix="s3lab-bench-copy-"))
    os.environ["S3LAB_HOME"] = str(home)
    try:
        found = measure(count, big, target=args.to, repeat=args.repeat)
    finally:
        sandbox.stop(home=home)
        if mine:
            shutil.rmtree(home, ignore_errors=True)  # the sandboxes' data too
    seconds = found["seconds"]
    print(f"copy of {count} x 4 KiB + one {big >> 20} MiB object, median of {args.repeat}:")
    ratio = seconds["two stages"] / seconds["s3lab bucket copy"]
    print(f"  ratio two stages / s3lab bucket copy: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
