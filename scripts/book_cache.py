"""Which notebooks the next book build must execute: those whose code is not in the cache.

With ``execute_notebooks: cache`` (``_config.yml``), myst-nb keeps each executed notebook in
``_build/.jupyter_cache``, keyed by a hash of its code cells and kernel; a notebook whose hash is
there is not executed again. ``bash tasks.sh book`` asks this script first and starts the
sandboxes only when some notebook must run (starting SeaweedFS costs about 10 s).

Prints the notebooks to execute, one a line. Exit status: 0 when every notebook's outputs are
in the cache (no sandbox needed), 3 when some must be executed (any other failure: 1, and the
caller starts the sandboxes, to be safe).

    python scripts/book_cache.py [BUILD_DIR]     # default: _build
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def to_execute(build_dir: Path) -> list[Path]:
    """The notebooks in notebooks/ that have no executed copy in the build's cache."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    cache_dir = build_dir / ".jupyter_cache"
    if not cache_dir.is_dir():
        return notebooks
    from jupyter_cache import get_cache  # installed with jupyter-book (myst-nb)

    cache = get_cache(str(cache_dir))
    missing = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            missing.append(path)
    return missing


def main(argv: list[str]) -> int:
    """Print the notebooks to execute; 0 when there are none, 3 otherwise."""
    build_dir = Path(argv[0]) if argv else ROOT / "_build"
    missing = to_execute(build_dir.resolve())
    for path in missing:
        print(path.relative_to(ROOT))
    return 3 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
