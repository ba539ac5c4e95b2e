"""What cannot be copied between this machine and a bucket, asked before any byte moves.

Uploads: an entry that is not a readable regular file (a broken link, a pipe, a file without
read permission). Downloads: a key that cannot become a path under the target (``..``, ``//``,
a name longer than the file system takes, a file where a folder is needed). Each answer is a
reason for a person (or ``""``): :mod:`s3lab.buckets.transfer` skips the item with that reason
as a warning, and copies the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def entries(root: Path) -> Iterator[tuple[Path, str, str]]:
    """Every entry under ``root`` that is not a folder: ``(path, key suffix, problem)``, sorted.

    ``problem`` is empty for a readable regular file, else why it cannot be uploaded: a broken
    link, a pipe or socket (reading one would wait forever), a file that cannot be opened.
    """
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        rest = path.relative_to(root).as_posix()
        if not path.exists():
            yield path, rest, "it is a link to nothing (a broken symlink)"
        elif not path.is_file():
            yield path, rest, "it is not a regular file (a pipe, socket or device)"
        else:
            yield path, rest, unreadable(path)


def unreadable(path: Path) -> str:
    """Why ``path`` cannot be read, or ``""``: asked of the system by opening it."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    return ""


def segments_problem(rest: str) -> str:
    """Why the part of a key below the prefix cannot be a path under the target, or ``""``."""
    parts = rest.split("/")
    if any(part in (".", "..") for part in parts):
        return "its key has a '.' or '..' segment: it would be written outside the target folder"
    if "" in parts:
        return "its key has an empty segment ('//'): no file path keeps one"
    return ""


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system under ``folder`` takes (255 on most)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def unwritable(local: Path, base: Path, planned: set[Path]) -> str:
    """Why ``local`` cannot become a file, or ``""``; asked before any byte is fetched.

    Checked: each name's length in bytes (the file system's limit), a file (on disk, or one
    this plan writes) where a folder is needed, a folder where the file would go.
    """
    limit = _name_max(base)
    for part in local.relative_to(base).parts if local.is_relative_to(base) else local.parts:
        size = len(os.fsencode(part))
        if size > limit:
            return f"a name in its path is {size} bytes; this file system takes at most {limit}"
    for parent in local.parents:
        if parent in planned:
            return f"{parent} is another object's file, so it cannot also be a folder"
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    if local.is_dir():
        return f"{local} is a folder, not a file"
    return ""
