"""Benchmark: s3lab against the AWS CLI v2 (classic and CRT), v1, and a ceiling.

    python bench/run.py                   # everything, 1 GiB objects (about 15 minutes)
    python bench/run.py --skip-build      # without the book's build times (2 minutes less)
    python bench/run.py --size 256MiB     # a smaller big object
    python bench/run.py --quick           # tiny sizes: checks that it runs (a test does this)
    python bench/run.py --repeat 3        # median of three runs of removal and upload

It uses the SeaweedFS sandbox of $S3LAB_HOME (a fresh one in a temporary home when unset),
starting it if needed and stopping it at the end if it started it. Each contender works on data
made the same way, on the same server, on the same machine, so the server's own cost is in
every number; only the client differs. The parts, each printed as it runs:

- start-up: ``s3lab bucket remove`` of an empty bucket, against a bare botocore client;
- remove a bucket of 10,000 objects; upload 1,000 x 4 KiB files (``aws``, ``s3lab``, a bare
  boto3 loop, the s3lab function in-process);
- one big object up and down against the server's ceiling (bench/big.py);
- reading it through each mount tool against a direct GET (bench/mounts.py);
- copying a bucket to a second store against the two-stage way (bench/bucket_copy.py);
- the book's cold build and warm rebuilds (scripts/build_times.py).

Results: bench/results/latest.json, latest.md (the table the book shows), latest.svg and .png.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import re
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

from bench import big, bucket_copy, contenders, mounts, report  # noqa: E402
from s3lab import backends, buckets, sandbox  # noqa: E402
from s3lab.buckets import names, transfer  # noqa: E402


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


#: Contender commands that failed once and were run again: (name, their last error line).
RETRIED: list[tuple[str, str]] = []


def timed_contender(name: str, command: list[str], env: dict[str, str]) -> float:
    """The seconds of an aws command; run once more if it failed (its time is the second run's).

    The AWS CLI v2's CRT client sometimes fails one file under load ('NoneType' object has no
    attribute 'result', seen with 2.36.7): a bug of the contender, not a result. A second
    failure stops the bench; each retry is listed under the table.
    """
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return time.perf_counter() - start
    said = (result.stderr or result.stdout).strip().splitlines()
    RETRIED.append((name, said[-1][-200:] if said else f"exit code {result.returncode}"))
    log(f"  {name} failed ({RETRIED[-1][1]}): once more")
    return timed(run, command, env)


def timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def timer(env: dict[str, str]) -> Callable[..., float]:
    """How bench/big.py times a command: an aws one (with its contender) as such, s3lab's in env."""

    def time_it(command: list[str], contender: contenders.Contender | None = None) -> float:
        if contender is not None:
            return timed_contender(contender.name, command, contender.env)
        return timed(run, command, env)

    return time_it


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


def spread_of(
    what: str,
    who: str,
    spread: dict[str, dict[str, list[float]]],
    big_spread: dict[str, list[float]],
) -> list[float]:
    """The fastest and slowest of the repeated runs of one row's s3lab measurement."""
    if what.startswith("remove"):
        return spread["remove"][who]
    if what.startswith("upload"):
        return spread["upload"][who]
    return big_spread[f"{who} {'up' if what.startswith('put') else 'down'}"]


def parse_size(text: str) -> int:
    """``1GiB``, ``256MiB``, ``512KiB`` or a number of bytes."""
    match = re.fullmatch(r"(\d+)\s*([KMG]i?B)?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 256MiB)")
    unit = (match.group(2) or "B").upper().replace("I", "")
    return int(match.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[unit]


def human(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def startup(env: dict[str, str], client: object, runs: int) -> dict[str, float | int]:
    """The fastest of ``runs``: ``s3lab bucket remove`` of an empty bucket, and a bare client."""
    ours, floor = [], []
    code = (
        "import botocore.session; botocore.session.Session().create_client('s3', "
        "region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='y')"
    )
    for _ in range(runs):
        name = buckets.make_bucket(client, names.unique_name("bench-start"))
        ours.append(timed(run, [sys.executable, "-m", "s3lab.cli", "bucket", "remove", name], env))
        floor.append(timed(run, [sys.executable, "-c", code], env))
    found = {"s3lab_s": min(ours), "botocore_floor_s": min(floor), "runs": runs}
    log(f"  s3lab bucket remove (empty) {found['s3lab_s']:.2f} s; bare botocore client "
        f"{found['botocore_floor_s']:.2f} s; fastest of {runs}")  # fmt: skip
    return found


def build_times() -> dict[str, object]:
    """scripts/build_times.py's JSON: the book's cold build and warm rebuilds."""
    script = ROOT / "scripts" / "build_times.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3LAB_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"error": done.stderr[-500:]}
    found: dict[str, object] = json.loads(lines[-1])
    log(f"  cold {found['cold_s']} s, warm {found['warm_s']} s, one changed "
        f"{found['one_changed_s']} s ({found['one_changed_executed']} executed)")  # fmt: skip
    return found


def ratio(
    what: str, kind: str, measured: float, other: str, other_s: float, target: float | None = None
) -> dict[str, object]:
    """One row: ``other_s / measured`` (above 1: the measured one is faster)."""
    return {
        "what": what,
        "kind": kind,
        "measured_s": round(measured, 3),
        "other": other,
        "other_s": round(other_s, 3),
        "value": round(other_s / measured, 3),
        "target": target,
    }


def os_name() -> str:
    """``Debian GNU/Linux 12 (bookworm)``: the release, not the kernel build."""
    try:
        return platform.freedesktop_os_release()["PRETTY_NAME"]
    except (OSError, KeyError):
        return platform.platform(terse=True)


def machine() -> dict[str, object]:
    """What the numbers were measured on; the load average says how busy the machine was."""
    from importlib.metadata import version

    versions = {name: version(name) for name in ("boto3", "awscrt", "awscli")}
    return {
        "cores": os.cpu_count(),
        "os": os_name(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        **versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--objects", type=int, help="objects in the bucket to remove (10000)")
    parser.add_argument("--files", type=int, help="4 KiB files to upload (1000)")
    parser.add_argument("--size", type=parse_size, help="the big object (1GiB)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median is shown")
    parser.add_argument("--skip-build", action="store_true", help="no book build times (~2 min)")
    parser.add_argument("--copy-to", default=None, help="ceph or server (default: ceph if it runs)")
    parser.add_argument("--no-png", action="store_true", help="the SVG plot only (no chromium)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="results")
    args = parser.parse_args(argv)
    objects = args.objects or (50 if args.quick else 10_000)
    files = args.files or (20 if args.quick else 1000)
    size = args.size or (8 << 20 if args.quick else 1 << 30)
    copy_count, copy_big = (10, 1 << 20) if args.quick else (1000, 64 << 20)
    copy_to = args.copy_to or ("server" if args.quick else "auto")
    settle = 0.0 if args.quick else 1.0

    work = Path(tempfile.mkdtemp(prefix="s3lab-bench-"))
    home = Path(os.environ.get("S3LAB_HOME") or work / "home")
    os.environ["S3LAB_HOME"] = str(home)
    was_running = any(s.state == "running" for s in sandbox.status("server", home=home))
    log(f"the SeaweedFS sandbox ({'running' if was_running else 'starting'}) ...")
    info = machine()
    box = sandbox.start("server", home=home)
    env = command_env(box)
    os.environ.update(box.env())
    made: list[str] = []
    client = buckets.client_for(backends.resolve("server"))
    try:
        bare = bare_client(box)
        fill_folder = make_files(work / "fill", objects, 16)
        upload_folder = make_files(work / "upload", files, 4096)
        s3lab_cmd = [sys.executable, "-m", "s3lab.cli", "bucket"]
        results: dict[str, dict[str, list[float]]] = {"remove": {}, "upload": {}}

        def filled() -> str:
            name = buckets.make_bucket(client, names.unique_name("bench"))
            made.append(name)
            fill = timed(transfer.put, client, fill_folder, f"s3://{name}/k/", quiet=True)
            log(f"  filled {name} with {objects} objects in {fill:.1f} s")
            time.sleep(settle)  # let the server settle, the same for every contender
            return name

        def record(task: str, who: str, seconds: float) -> None:
            results[task].setdefault(who, []).append(seconds)
            log(f"  {task:6} {who:22} {seconds:7.2f} s")

        log("start-up")
        started = startup(env, client, 2 if args.quick else 5)
        clis = contenders.find(env, work)
        runnable = [c for c in clis if not c.missing]
        for c in clis:
            shown = " ".join(a if a.startswith("-") else Path(a).name for a in c.argv[:2])
            log(f"  {c.name}: {c.missing or shown}")
        for round_ in range(args.repeat):
            log(f"round {round_ + 1}: upload {files} x 4 KiB")
            target = buckets.make_bucket(client, names.unique_name("bench-up"))
            made.append(target)
            # SeaweedFS allocates storage for a bucket at its first write (seconds): do that
            # before the clock runs, or whoever goes first pays for it.
            client.put_object(Bucket=target, Key="warm-up", Body=b"x")
            folder = str(upload_folder)
            up = {}
            for number, c in enumerate(runnable):
                up[c.name] = f"s3://{target}/r{round_}aws{number}/"
                aws_cp = [*c.argv, "s3", "cp", "--recursive", "--only-show-errors", folder]
                record("upload", c.name, timed_contender(c.name, [*aws_cp, up[c.name]], c.env))
            up["s3lab"] = f"s3://{target}/r{round_}s3lab/"
            record("upload", "s3lab", timed(run, [*s3lab_cmd, "put", "--quiet", folder,
                                                  up["s3lab"]], env))  # fmt: skip
            up["bare"] = f"s3://{target}/r{round_}bare/"
            bare_prefix = buckets.split_url(up["bare"])[1]
            record(
                "upload", "bare boto3", timed(bare_upload, bare, upload_folder, target, bare_prefix)
            )
            up["fn"] = f"s3://{target}/r{round_}fn/"
            seconds = timed(transfer.put, client, upload_folder, up["fn"], quiet=True)
            record("upload", "s3lab (in-process)", seconds)
            for who, url in up.items():
                count = buckets.usage(client, target, buckets.split_url(url)[1]).objects
                if count != files:
                    sys.exit(f"upload by {who} left {count} objects, not {files}")
            buckets.remove_bucket(client, target, force=True)

            log(f"round {round_ + 1}: remove {objects} objects")
            for c in runnable:
                name = filled()
                rb = [*c.argv, "s3", "rb", f"s3://{name}", "--force"]
                record("remove", c.name, timed_contender(c.name, rb, c.env))
            name = filled()
            record("remove", "s3lab", timed(run, [*s3lab_cmd, "remove", name, "--force"], env))
            name = filled()
            record("remove", "bare boto3", timed(bare_remove, bare, name))
            name = filled()
            seconds = timed(buckets.remove_bucket, client, name, force=True)
            record("remove", "s3lab (in-process)", seconds)
        shutil.rmtree(fill_folder)
        shutil.rmtree(upload_folder)

        log(f"one object of {human(size)}, up and down")
        big_bucket = buckets.make_bucket(client, names.unique_name("bench-big"))
        made.append(big_bucket)
        client.put_object(Bucket=big_bucket, Key="warm-up", Body=b"x")
        moved = big.measure(
            big_bucket, box.endpoint_url, size, work, timer(env), s3lab_cmd, runnable,
            quick=args.quick, repeat=args.repeat, log=log,
        )  # fmt: skip
        log(f"reading the {human(size)} object through each mount tool")
        mounted = mounts.measure(client, big_bucket, "s3lab.bin", size, work, log)
        buckets.remove_bucket(client, big_bucket, force=True)

        log(f"copy {copy_count} x 4 KiB + one {human(copy_big)} object to a second store")
        copied = bucket_copy.measure(copy_count, copy_big, target=copy_to, log=log)
    finally:
        for name in made:
            with contextlib.suppress(Exception):  # removed already (the usual case)
                buckets.remove_bucket(client, name, force=True)
        if not was_running:
            sandbox.stop("server", home=home)
        shutil.rmtree(work, ignore_errors=True)  # the files made and, by default, the sandbox
    built: dict[str, object] = {"skipped": "--skip-build or --quick"}
    if not (args.skip_build or args.quick):
        log("the book: cold build, warm rebuild, one notebook changed")
        built = build_times()

    times = {task: {who: median(v) for who, v in found.items()} for task, found in results.items()}
    spread = {task: {who: [min(v), max(v)] for who, v in found.items()} for task, found in
              results.items()}  # fmt: skip
    big_s, big_spread = moved["seconds"], moved["spread"]
    work_rows = [  # (what, s3lab's seconds, each contender's seconds by name)
        (f"remove a bucket of {objects:,} objects", times["remove"]["s3lab"], times["remove"]),
        (f"upload {files:,} x 4 KiB files", times["upload"]["s3lab"], times["upload"]),
        (f"put one {human(size)} object", big_s["s3lab up"],
         {c.name: big_s[f"{c.name} up"] for c in runnable}),
        (f"get one {human(size)} object", big_s["s3lab down"],
         {c.name: big_s[f"{c.name} down"] for c in runnable}),
    ]  # fmt: skip
    rows = [
        ratio(what, "faster", ours, c.name, theirs[c.name])
        for what, ours, theirs in work_rows
        for c in runnable
    ]
    rows += [
        ratio(f"remove a bucket of {objects:,} objects (in-process)", "faster",
              times["remove"]["s3lab (in-process)"], "fastest aws",
              min(times["remove"][c.name] for c in runnable)) if runnable else None,
        ratio(f"copy a bucket to {copied['to']}", "faster", copied["seconds"]["s3lab bucket copy"],
              "two stages", copied["seconds"]["two stages"]),
        ratio(f"put one {human(size)} object", "share", big_s["s3lab up"],
              "ceiling", big_s["ceiling up"]),
        ratio(f"get one {human(size)} object", "share", big_s["s3lab down"],
              "ceiling", big_s["ceiling down"]),
    ]  # fmt: skip
    rows = [row for row in rows if row]
    against = [
        {
            "what": what,
            "s3lab_s": round(ours, 3),
            "s3lab_spread": [round(x, 3) for x in spread_of(what, "s3lab", spread, big_spread)],
            "aws_s": {c.name: round(theirs[c.name], 3) for c in runnable},
        }
        for what, ours, theirs in work_rows
    ]  # fmt: skip
    for who, seconds in mounted["seconds"].items():
        if who != "direct GET":
            rows.append(ratio(f"read {human(size)} through {who}", "share", seconds,
                              "direct GET", mounted["seconds"]["direct GET"]))  # fmt: skip
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    outcome = {
        "date": _dt.date.today().isoformat(),
        "quick": args.quick,
        "machine": info,
        "sizes": {
            "objects": objects,
            "files": files,
            "big_bytes": size,
            "repeat": args.repeat,
            "big_settle_s": moved["settle_s"],
        },
        "ratios": rows,
        "against": against,
        "contenders": {c.name: c.missing or "ran" for c in clis},
        "retried": RETRIED,
        "versions": contenders.versions(clis),
        "startup": started,
        "seconds": {**times, "big": moved["seconds"], "mounts": mounted["seconds"],
                    "copy": copied["seconds"]},
        "ceiling_grid": moved["grid"],
        "big_runs": moved["runs"],  # every run, in the order run (the table shows the best)
        "mounts_skipped": mounted["skipped"],
        "build": built,
    }  # fmt: skip
    print()
    print(report.table(outcome))
    written = report.write(outcome, args.out, png=not args.no_png)
    if not args.no_png and len(written) < 4:
        log("no PNG: chromium is not installed (the SVG has the same plot)")
    log("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
