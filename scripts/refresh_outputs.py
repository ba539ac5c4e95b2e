"""Re-execute notebooks in place so their stored outputs (which nbval compares) are current.

Run through ``bash tasks.sh outputs [NOTEBOOK...]``, which starts both sandboxes first. Each
notebook runs on its own default backend (the one its ``s3lab.use(..., default=...)`` names),
exactly as in the book build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

from s3lab import notebooks

ROOT = Path(__file__).resolve().parent.parent


def refresh(path: Path) -> None:
    """Execute one notebook in its own folder and write it back with fresh outputs.

    Written only when every cell ran: a failure leaves the notebook on disk as it was.
    """
    os.environ.pop("S3LAB_BACKEND", None)
    nbformat.write(notebooks.execute(path), path)
    print(f"refreshed {path.relative_to(ROOT)}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Refresh the notebooks named, or every notebook in notebooks/."""
    paths = [Path(p).resolve() for p in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        refresh(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
