"""Run every chapter the way a learner does: each notebook, top to bottom, in the lab's kernel.

``bash tasks.sh lab --check`` calls this after its set-up, instead of opening JupyterLab: the
notebooks run with the registered kernel, on the learner's own sandboxes, and a table says how
each went. The notebooks on disk are left as they are (the executed copies are thrown away).

    python scripts/lab_check.py [--kernel NAME] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from s3lab import notebooks

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, kernel: str, timeout: int) -> str:
    """Empty when ``path`` ran top to bottom, else the failing cell's error line."""
    try:
        notebooks.execute(path, kernel=kernel, timeout=timeout)
    except Exception as exc:  # a failing notebook is a row of the table, not the end
        return notebooks.error_line(exc)[:100]
    return ""


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks named (default: every chapter) and print a table; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--kernel", default=notebooks.KERNEL, help="the kernel to run them with")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    shown = KernelSpecManager().get_kernel_spec(args.kernel).display_name
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    failed = 0
    print(f"{'notebook':32} {'result':6} {'seconds':>7}  error")
    for path in paths:
        started = time.monotonic()
        error = run(path, args.kernel, args.timeout)
        failed += bool(error)
        seconds = time.monotonic() - started
        print(f"{path.name:32} {'FAILED' if error else 'ok':6} {seconds:7.0f}  {error}", flush=True)
    print(f"{len(paths) - failed} of {len(paths)} notebooks ran top to bottom (kernel {shown!r})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
