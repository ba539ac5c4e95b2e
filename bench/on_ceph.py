"""Benchmark: the big object up and down again on Ceph, the software Kopah runs.

    python bench/on_ceph.py                 # one 128 MiB object (about 2 minutes)
    python bench/on_ceph.py --size 64MiB    # smaller
    python bench/on_ceph.py --repeat 3      # best of three runs of each

bench/run.py measures on SeaweedFS. s3lab's lead on a big object comes from how it sends
(the AWS Common Runtime, fewer connections to a server that shares the cores), so it must hold
on the gateway readers meet on Kopah too; this checks that with the same code (bench/big.py),
the same contenders (bench/contenders.py) and the same ceiling, on the ``ceph`` sandbox (root,
Debian or Ubuntu). Ceph's sandbox keeps its objects in 1 GiB of memory and each contender's copy
stays until the end, so the object is smaller than run.py's (128 MiB: five copies fit).

Results: bench/results/ceph.json and ceph.md (the table the speed page shows).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import big, contenders  # noqa: E402
from bench.run import (  # noqa: E402
    command_env,
    human,
    log,
    machine,
    parse_size,
    timer,
)
from s3lab import backends, buckets, sandbox  # noqa: E402
from s3lab.buckets import names  # noqa: E402
from s3lab.sandbox import ceph  # noqa: E402

#: The largest object five copies of which (each contender's, and the ceiling loop's) fit in the
#: sandbox's 1 GiB memstore, with room for Ceph's own.
MOST = 128 << 20

#: The profile lines of the Kopah chapter (``s3lab configure --kopah``), which every aws
#: command here gets: the Ceph reader's set-up, not the defaults.
KOPAH_LINES = (
    "request_checksum_calculation = when_required\nresponse_checksum_validation = when_required\n"
)


def refusal(contender: contenders.Contender, bucket: str, work: Path) -> str:
    """Why ``contender`` cannot upload to this Ceph (its last error line), or ``""``."""
    probe = work / "probe.bin"
    probe.write_bytes(os.urandom(1 << 20))
    command = [*contender.argv, "s3", "cp", str(probe), f"s3://{bucket}/probe-{contender.name}"]
    done = subprocess.run(command, env=contender.env, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return ""
    said = (done.stderr or done.stdout).strip().splitlines()
    line = said[-1] if said else f"exit code {done.returncode}"
    # S3's own words, without the file's path (the speed page shows nothing of this machine)
    return line[line.find("An error occurred") :] if "An error occurred" in line else line[-200:]


def ceph_version() -> str:
    """``16.2.15``: the gateway's version, as ``radosgw --version`` says it."""
    done = subprocess.run(["radosgw", "--version"], capture_output=True, text=True, check=False)
    words = done.stdout.split()
    return words[2] if len(words) > 2 and words[:2] == ["ceph", "version"] else "(unknown)"


def table(result: dict[str, Any]) -> str:
    """The Markdown table: each aws command's time, and s3lab against the fastest and ceiling."""
    seconds: dict[str, float] = result["seconds"]
    names_: list[str] = result["contenders"]
    size = human(result["size"])
    lines = [
        "| work on Ceph | s3lab | " + " | ".join(names_) + " | s3lab vs the fastest aws "
        "| share of the ceiling |",
        "|---|---:|" + "---:|" * len(names_) + "---:|---:|",
    ]
    for what, way in ((f"put one {size} object", "up"), (f"get one {size} object", "down")):
        ours = seconds[f"s3lab {way}"]
        theirs = [seconds[f"{name} {way}"] for name in names_]
        cells = " | ".join(f"{t:.2f} s" for t in theirs)
        lines.append(
            f"| {what} | {ours:.2f} s | {cells} | {min(theirs) / ours:.2f}x "
            f"| {seconds[f'ceiling {way}'] / ours:.2f} |"
        )
    lines += [""] + [f"{name} could not run: {why}" for name, why in result["refused"].items()]
    lines += ["", f"Measured {result['date']} on Ceph {result['ceph']}, best of {result['tries']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=parse_size, default=MOST, help="the object (128MiB)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="results")
    args = parser.parse_args(argv)
    if args.size > MOST:
        parser.error(
            f"--size {human(args.size)} does not fit Ceph's sandbox: {human(MOST)} at most"
        )
    why = ceph.cannot_run()
    if why:
        sys.exit(f"Ceph cannot run here: {why[0]} -- {why[1]}")
    work = Path(tempfile.mkdtemp(prefix="s3lab-bench-ceph-"))
    os.environ["S3LAB_HOME"] = str(work / "home")
    try:
        log("the ceph sandbox (starting) ...")
        box = sandbox.start("ceph")
        os.environ.update(box.env())
        env = command_env(box)
        client = buckets.client_for(backends.resolve("ceph"))
        bucket = buckets.make_bucket(client, names.unique_name("bench-ceph"))
        clis, refused = [], {}
        for found in contenders.find(env, work, KOPAH_LINES):
            why = found.missing or refusal(found, bucket, work)
            if why:
                log(f"  {found.name} cannot run here: {why}")
                refused[found.name] = why
            else:
                clis.append(found)
        s3lab_cmd = [sys.executable, "-m", "s3lab.cli", "bucket"]
        log(f"one object of {human(args.size)}, up and down, on Ceph")
        moved = big.measure(
            bucket, box.endpoint_url, args.size, work, timer(env), s3lab_cmd, clis,
            quick=False, repeat=args.repeat, log=log,
        )  # fmt: skip
        buckets.remove_bucket(client, bucket, force=True)
    finally:
        sandbox.stop(home=work / "home")
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "date": _dt.date.today().isoformat(),
        "machine": machine(),
        "ceph": ceph_version(),
        "size": args.size,
        "tries": max(2, args.repeat),
        "contenders": [c.name for c in clis],
        "refused": refused,
        "versions": contenders.versions(clis),
        "seconds": moved["seconds"],
        "spread": moved["spread"],
        "grid": moved["grid"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ceph.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.out / "ceph.md").write_text(table(result), encoding="utf-8")
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
