"""Time the book's build: cold, warm with nothing changed, warm with one notebook changed.

Runs the README's build command (``bash tasks.sh book``) three times in a copy of the work tree
(so your _build/ and notebooks are left alone), with this project's virtual environment:

1. cold: no _build/, every notebook executed (as CI does on a clean clone);
2. warm: nothing changed, every notebook's outputs from the jupyter-cache;
3. one changed: a space appended to a code cell of one notebook, which alone is executed.

Prints one JSON object: seconds and executed notebooks for each, and whether the limits hold
(cold <= 120 s, warm <= 15 s, one changed executes exactly one notebook). Exit 1 if not.

    python scripts/build_times.py [--notebook notebooks/50_boto3.ipynb]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {"cold_s": 120.0, "warm_s": 15.0}
#: Not copied: the venvs the build uses from the work tree itself (``S3LAB_VENV``, and the AWS CLI
#: v2's beside it), and what the build makes anew.
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-awscli",
    ".venv-distro",
    "_build",
    "__pycache__",
    "*.egg-info",
    ".ruff_cache",
)


def build(tree: Path, venv: Path) -> dict[str, float | int]:
    """One ``bash tasks.sh book`` in ``tree``: its time and how many notebooks it executed."""
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "tasks.sh", "book"],
        cwd=tree,
        env={**os.environ, "S3LAB_VENV": str(venv)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    if done.returncode != 0:
        sys.exit(f"error: the build failed in {tree}:\n{log[-3000:]}")
    return {
        "s": round(seconds, 1),
        "executed": len(re.findall(r"Executed notebook in|: executed in ", log)),
        "from_cache": len(re.findall(r"Using cached notebook", log)),
    }


def touch_code(notebook: Path) -> None:
    """Append a space to the notebook's first code cell: new code to the cache, same program."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.source += " "
    nbformat.write(nb, notebook)


def main() -> int:
    """Build three times in a copy of the work tree; print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="notebooks/50_boto3.ipynb", help="the one to change")
    args = parser.parse_args()
    venv = Path(os.environ.get("VIRTUAL_ENV") or Path(sys.executable).parent.parent)
    with tempfile.TemporaryDirectory(prefix="s3lab-build-times-") as tmp:
        tree = Path(tmp) / "s3lab"
        shutil.copytree(ROOT, tree, ignore=SKIP, symlinks=True)
        cold = build(tree, venv)
        warm = build(tree, venv)
        touch_code(tree / args.notebook)
        changed = build(tree, venv)
    result = {
        "cold_s": cold["s"],
        "cold_executed": cold["executed"],
        "warm_s": warm["s"],
        "warm_executed": warm["executed"],
        "one_changed_s": changed["s"],
        "one_changed_executed": changed["executed"],
        "changed_notebook": args.notebook,
        "limits_s": LIMITS,
    }
    result["ok"] = (
        cold["s"] <= LIMITS["cold_s"]
        and warm["s"] <= LIMITS["warm_s"]
        and warm["executed"] == 0
        and changed["executed"] == 1
    )
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
