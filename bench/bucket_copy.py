"""Benchmark: copying a bucket between two stores, one command against the two-stage way.

    python bench/bucket_copy.py            # 1,000 x 4 KiB and one 64 MiB object (2-3 minutes)
    python bench/bucket_copy.py --quick    # 200 objects and one of 10 MiB
    python bench/bucket_copy.py --repeat 3 # median of three runs of each

SeaweedFS (the ``server`` sandbox) stands in for AWS and the ``ceph`` sandbox for Kopah (root,
Debian or Ubuntu; SeaweedFS again where Ceph cannot run). Both are started in a fresh
S3LAB_HOME and stopped at the end. The contenders copy the same bucket to a new, empty one:

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from s3lab import buckets, ceph, configure, sandbox  # noqa: E402


def run(command: list[str], env: dict[str, str]) -> float:
    """Run a command and return its wall time; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    count, big = (200, 10 << 20) if args.quick else (1000, 64 << 20)
    home = Path(os.environ.get("S3LAB_HOME") or tempfile.mkdtemp(prefix="s3lab-bench-copy-"))
    os.environ["S3LAB_HOME"] = str(home)
    scratch = Path(tempfile.mkdtemp(prefix="s3lab-bench-copy-"))
    target = "ceph" if ceph.cannot_run() is None else "server"
    try:
        start = time.perf_counter()
        to_box = sandbox.start(target)
        started = time.perf_counter() - start
        from_box = sandbox.start("server")
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        env.update(
            AWS_CONFIG_FILE=str(scratch / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(scratch / "creds"),
        )
        os.environ.update(
            AWS_CONFIG_FILE=env["AWS_CONFIG_FILE"],
            AWS_SHARED_CREDENTIALS_FILE=env["AWS_SHARED_CREDENTIALS_FILE"],
        )
        configure.configure_sandbox("server", profile="from")
        configure.configure_sandbox(target, profile="to")
        configure.configure_s3cmd(backend=target, path=scratch / "s3cfg")
        source, dest = buckets.client_for("server"), buckets.client_for(target)
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
        times: dict[str, list[float]] = {"two stages": [], "s3lab bucket copy": []}
        for round_ in range(args.repeat):
            stage = scratch / f"stage-{round_}"
            two, one = f"bench-two-{round_}", f"bench-one-{round_}"
            dest.create_bucket(Bucket=two)
            dest.create_bucket(Bucket=one)
            down = run(
                [
                    "aws",
                    "--profile",
                    "from",
                    "s3",
                    "sync",
                    "s3://bench-source",
                    str(stage),
                    "--only-show-errors",
                ],
                env,
            )
            up = run(
                [
                    "s3cmd",
                    "-c",
                    str(scratch / "s3cfg"),
                    "sync",
                    "--quiet",
                    f"{stage}/",
                    f"s3://{two}/",
                ],
                env,
            )
            times["two stages"].append(down + up)
            times.setdefault("  of which aws s3 sync down", []).append(down)
            times.setdefault("  of which s3cmd sync up", []).append(up)
            copy = ["s3lab", "bucket", "copy", "s3://bench-source", f"s3://{one}"]
            times["s3lab bucket copy"].append(
                run([*copy, "--from-profile", "from", "--to-profile", "to", "--quiet"], env)
            )
            shutil.rmtree(stage)
        print(
            f"{target} sandbox started in {started:.1f} s "
            f"(from {from_box.backend} to {to_box.backend}, both on this machine)"
        )
        print(f"copy of {count} x 4 KiB + one {big >> 20} MiB object, median of {args.repeat}:")
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print(f"  {name:20} {value:6.1f} s")
        print(
            "  ratio two stages / s3lab bucket copy: "
            f"{medians['two stages'] / medians['s3lab bucket copy']:.2f}"
        )
    finally:
        sandbox.stop(home=home)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
