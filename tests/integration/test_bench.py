"""The benchmark still runs, end to end, and reports every ratio (so it cannot rot unseen).

One quick run (tiny sizes, no book build) against the session's SeaweedFS sandbox, in a child
process so the variables the bench sets stay out of this one. No timing is asserted: speed is
for the bench itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from s3lab import backends

ROOT = Path(__file__).resolve().parents[2]

#: The start of every ratio's name that a run must report (mount tools: see below).
RATIOS = [
    ("faster", "remove a bucket of 50 objects (command)"),
    ("faster", "remove a bucket of 50 objects (in-process)"),
    ("faster", "upload 20 x 4 KiB files"),
    ("faster", "put one 8 MiB object"),
    ("faster", "get one 8 MiB object"),
    ("faster", "copy a bucket to server"),
    ("share", "put one 8 MiB object"),
    ("share", "get one 8 MiB object"),
]


def test_the_quick_bench_reports_every_ratio(server: backends.Backend, tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-png", "--out", str(out)],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "latest.json").read_text())
    found = {(row["kind"], row["what"]): row for row in results["ratios"]}
    for key in RATIOS:
        assert key in found, f"missing ratio {key}; found {sorted(found)}"
    for row in results["ratios"]:
        assert row["value"] > 0 and row["measured_s"] > 0 and row["other_s"] > 0, row
    # every mount tool is either measured or says why not
    for tool in ("mountpoint", "rclone", "s3fs"):
        measured = ("share", f"read 8 MiB through {tool} mount") in found
        assert measured or tool in results["mounts_skipped"], tool
    assert results["startup"]["s3lab_s"] > 0
    table = (out / "latest.md").read_text()
    assert table.startswith("| what") and table.count("\n| ") == len(results["ratios"])
    assert (out / "latest.svg").read_text().startswith("<svg")
    assert not (out / "latest.png").exists()  # --no-png
    # nothing left behind: no bucket of the bench's, no mount
    from s3lab import buckets, mount

    names = [
        b["name"] for b in buckets.list_buckets(buckets.client_for(backends.resolve("server")))
    ]
    assert not [n for n in names if n.startswith("bench")], names
    assert not [m for m in mount.mounts() if "s3lab-bench" in m.directory]
