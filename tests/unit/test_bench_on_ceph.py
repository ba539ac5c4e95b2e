"""bench/on_ceph.py's table and its refusal of an object Ceph's sandbox cannot hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import contenders, on_ceph

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_says_s3lab_against_the_fastest_aws_and_the_ceiling() -> None:
    seconds = {"s3lab up": 2.0, "aws v2 (CRT) up": 3.0, "aws v1 up": 4.0, "ceiling up": 1.8}
    seconds |= {"s3lab down": 1.0, "aws v2 (CRT) down": 0.9, "aws v1 down": 2.0}
    seconds["ceiling down"] = 0.9
    result = {"seconds": seconds, "contenders": ["aws v2 (CRT)", "aws v1"], "size": 128 << 20,
              "date": "2026-12-04", "ceph": "16.2.15", "tries": 2,
              "refused": {"aws v2 (classic)": "upload failed: XAmzContentSHA256Mismatch"}}  # fmt: skip
    header, _rule, put, get, _, refused, _, said = on_ceph.table(result).splitlines()
    assert refused == "aws v2 (classic) could not run: upload failed: XAmzContentSHA256Mismatch"
    assert header.split(" | ")[2:4] == ["aws v2 (CRT)", "aws v1"]
    assert put == "| put one 128 MiB object | 2.00 s | 3.00 s | 4.00 s | 1.50x | 0.90 |"
    assert get.endswith("| 0.90x | 0.90 |")  # slower than the fastest aws: shown, not hidden
    assert "Ceph 16.2.15" in said


def test_an_object_too_big_for_the_sandbox_is_refused_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "on_ceph.py"), "--size", "1GiB"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "does not fit Ceph's sandbox: 128 MiB at most" in done.stderr.splitlines()[-1]


def test_a_refusal_is_s3s_words_without_the_files_path(tmp_path: Path) -> None:
    said = (
        "upload failed: ../../tmp/s3lab-bench-ceph-x/probe.bin to s3://b/probe An error occurred"
        " (XAmzContentSHA256Mismatch) when calling the PutObject operation: None"
    )
    script = f"import sys; sys.exit({said!r})"  # what the aws command prints, and its exit code
    refuses = contenders.Contender("aws v2 (CRT)", [sys.executable, "-c", script, "--"], {})
    why = on_ceph.refusal(refuses, "b", tmp_path)
    assert why.startswith("An error occurred (XAmzContentSHA256Mismatch)") and "tmp" not in why
    accepts = contenders.Contender("aws v1", [sys.executable, "-c", "pass", "--"], {})
    assert on_ceph.refusal(accepts, "b", tmp_path) == ""
