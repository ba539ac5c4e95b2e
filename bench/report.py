"""The bench's results as files: JSON (every number), a Markdown table (the book includes it) and
a plot of the ratios, drawn as SVG here (no plotting library needed) and turned into a PNG by
headless chromium (the Debian package the site test uses) where it is installed.

Every ratio reads "how many times faster s3lab is" (above 1: s3lab wins), or, against a
ceiling, "the share of the ceiling s3lab reaches" (1.0: all of it).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from html import escape
from pathlib import Path
from typing import Any


def write(results: dict[str, Any], out: Path, *, png: bool = True) -> list[Path]:
    """Write latest.json, .md, .svg and (with chromium, if ``png``) .png in ``out``; return them."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "latest.json", out / "latest.md", out / "latest.svg"]
    written[0].write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    written[1].write_text(table(results), encoding="utf-8")
    (out / "latest.png").unlink(missing_ok=True)  # never a PNG of older results
    if plot(results, out / "latest.png", png=png):
        written.append(out / "latest.png")
    return written


def _seconds(value: float, spread: list[float] | None = None) -> str:
    """``4.21 s``, or with the spread of repeated runs, ``4.21 s (4.10-4.40)``."""
    if spread and spread[1] - spread[0] >= 0.005:
        return f"{value:.2f} s ({spread[0]:.2f}-{spread[1]:.2f})"
    return f"{value:.2f} s"


#: The contenders' columns, in this order (v2, what users run, first).
CONTENDERS = ["aws v2 (classic)", "aws v2 (CRT)", "aws v1"]


def table(results: dict[str, Any]) -> str:
    """The table the speed page shows: s3lab against each aws command, then the other ratios.

    The first table has a column per aws command and, last, how many times faster s3lab is
    than the fastest of them (above 1: s3lab wins). A contender that could not run here is a
    column of dashes, and the line under the table says why. No paths, no ports.
    """
    against = results.get("against", [])
    names = [n for n in CONTENDERS if n in results.get("contenders", {})]
    lines = [
        "| work | s3lab | " + " | ".join(names) + " | s3lab vs the fastest aws |",
        "|---|---:|" + "---:|" * len(names) + "---:|",
    ]
    for row in against:
        cells = [_seconds(row["aws_s"][n]) if n in row["aws_s"] else "-" for n in names]
        best = min(row["aws_s"].values()) if row["aws_s"] else 0.0
        vs = f"{best / row['s3lab_s']:.2f}x" if best else "-"
        lines.append(
            f"| {row['what']} | {_seconds(row['s3lab_s'], row.get('s3lab_spread'))} | "
            + " | ".join(cells)
            + f" | {vs} |"
        )
    missing = {n: why for n, why in results.get("contenders", {}).items() if why != "ran"}
    if missing:
        lines += ["", "Not measured: " + "; ".join(f"{n}: {w}" for n, w in missing.items()) + "."]
    retried = results.get("retried", [])
    if retried:
        lines += ["", "Run again after the command itself failed once (its time is the second "
                  "run's): " + "; ".join(f"{n} ({why})" for n, why in retried) + "."]  # fmt: skip
    others = [r for r in results["ratios"] if r["other"] not in CONTENDERS]
    lines += ["", "| what | time | against | ratio |", "|---|---:|---:|---:|"]
    for row in others:
        lines.append(
            f"| {row['what']} | {row['measured_s']:.2f} s | {row['other']}: {row['other_s']:.2f} s "
            f"| {row['value']:.2f} |"
        )
    box = results.get("machine", {})
    load = box.get("load_average_at_start", ["?"])[0], box.get("load_average_at_end", ["?"])[0]
    repeat = results.get("sizes", {}).get("repeat", 1)
    runs = (
        "one run" if repeat == 1 else f"the median of {repeat} runs (fastest-slowest in brackets)"
    )
    # "aws v1 1.46.3", not "aws-cli/1.46.3": a page that prints the old CLI's banner reads as if
    # the book still ran it (the pages test looks for that banner)
    versions = ", ".join(
        f"{n} {v.removeprefix('aws-cli/')}" for n, v in results.get("versions", {}).items()
    )
    lines += [
        "",
        f"Measured {results['date']}, {runs}, on {box.get('cores')} cores shared by the client, "
        f"the server and other work (load average {load[0]} at the start, {load[1]} at the end); "
        f"{box.get('os')}, Python {box.get('python')}, boto3 {box.get('boto3')}, awscrt "
        f"{box.get('awscrt')}; {versions or 'no aws command'}. The big object's times are the "
        "best of each one's runs" + _settled(results.get("sizes", {}).get("big_settle_s", 0)),
    ]
    start = results.get("startup")
    if start:
        lines += [
            "",
            f"Start-up of `s3lab bucket remove` on an empty bucket: {start['s3lab_s']:.2f} s "
            f"(fastest of {start['runs']}); a fresh Python that only makes a botocore S3 client: "
            f"{start['botocore_floor_s']:.2f} s.",
        ]
    build = results.get("build")
    if build and "cold_s" in build:
        lines += [
            "",
            f"Book build: cold {build['cold_s']:.0f} s ({build['cold_executed']} notebooks "
            f"executed), warm with nothing changed {build['warm_s']:.0f} s, one notebook "
            f"changed {build['one_changed_s']:.0f} s ({build['one_changed_executed']} executed).",
        ]
    elif build:  # said, so a reader does not look for the build's times and find nothing
        lines += [
            "",
            "The book's build was not timed in this run (`--skip-build`); "
            "`python scripts/build_times.py` times it on its own.",
        ]
    return "\n".join(lines) + "\n"


def _settled(seconds: float) -> str:
    """How each big-object run started (bench/big.py's ``settle``), as the end of a sentence."""
    if not seconds:
        return "."
    return (
        f"; each started {seconds:.0f} s after the one before, once the disk's writes were "
        "flushed and this VM had handed the memory freed meanwhile back to its host."
    )


#: Debian's chromium, with the flags the site test uses: it turns the SVG into the PNG.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
]  # fmt: skip
ROW, LABEL, BAR, PAD = 26, 480, 340, 12


def _panel(rows: list[dict[str, Any]], top: int, title: str, log: bool) -> tuple[list[str], int]:
    """One panel of bars (log or linear axis); returns its SVG elements and its bottom."""
    values = [r["value"] for r in rows] + [r["target"] or 1 for r in rows] + [1.0]
    low, high = (0.5, max(values) * 1.6) if log else (0.0, max([1.2, *values]) * 1.1)

    def x(value: float) -> float:
        if log:
            value = max(value, low)
            share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        else:
            share = (value - low) / (high - low)
        return LABEL + share * BAR

    out = [f'<text x="{PAD}" y="{top + 14}" class="title">{escape(title)}</text>']
    y = top + 24
    for row in rows:
        label = escape(
            f"{row['what']}, vs {row['other']}" if log else f"{row['what']}, of the {row['other']}"
        )
        out.append(f'<text x="{LABEL - 8}" y="{y + 16}" text-anchor="end">{label}</text>')
        out.append(
            f'<rect x="{LABEL}" y="{y + 4}" width="{x(row["value"]) - LABEL:.1f}" '
            f'height="{ROW - 8}" fill="#4c72b0"/>'
        )
        out.append(f'<text x="{x(row["value"]) + 4:.1f}" y="{y + 16}">{row["value"]:.2f}</text>')
        if row.get("target"):
            tx = x(row["target"])
            out.append(
                f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 1}" y2="{y + ROW - 1}" '
                'stroke="#c44e52" stroke-width="3"/>'
            )
        y += ROW
    one = x(1.0)
    out.append(
        f'<line x1="{one:.1f}" x2="{one:.1f}" y1="{top + 24}" y2="{y}" stroke="grey" '
        'stroke-dasharray="4 3"/>'
    )
    return out, y + 8


def plot(results: dict[str, Any], path: Path, *, png: bool = True) -> bool:
    """The ratios as bars in an SVG, then a PNG of it (headless chromium); False without PNG.

    Two panels: "times faster" spans orders of magnitude (a log axis); a share of a ceiling
    sits near 1 (linear). A red mark is the target, the dashed line 1 (as fast as the other).
    """
    rows = results["ratios"]
    faster = [r for r in rows if r["kind"] == "faster"]
    share = [r for r in rows if r["kind"] == "share"]
    title = f"s3lab benchmark, {results['date']}: ratio, higher is better"
    parts = [f'<text x="{PAD}" y="20" class="head">{escape(title)}</text>']
    first, bottom = _panel(faster, 30, "times faster than the other way (log scale)", True)
    second, bottom = _panel(share, bottom, "share of the ceiling or of a direct GET", False)
    parts += first + second
    width, height = LABEL + BAR + 70, bottom + 4
    svg = path.with_suffix(".svg")
    svg.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        "<style>.title{font-weight:bold} .head{font-size:14px;font-weight:bold}</style>\n"
        f'<rect width="{width}" height="{height}" fill="white"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n",
        encoding="utf-8",
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not (png and browser):
        return False
    with tempfile.TemporaryDirectory(prefix="s3lab-bench-png-") as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}",
             f"--window-size={width},{height}", svg.resolve().as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    return path.exists()
