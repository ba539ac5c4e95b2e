"""s3lab's own state files (sandbox, mount, Ceph and upload records): written whole, read warily.

A record names a live process (a sandbox server, a mount program) or an open upload that costs
money; losing it to a crash orphans what it names. So every state file is written the one way
that cannot leave half a file: a temporary file in the same folder, flushed to disk (fsync),
renamed over the old one (atomic on POSIX), then the folder fsynced so the rename itself
survives a power cut. A reader never sees anything but the old file or the new one.

Reading is defensive: a file that is missing, empty, truncated or not the JSON shape expected
gives the default (and a log line), never an exception, because a record is a hint that the
caller checks against the live process anyway.

Read-modify-write cycles (``uploads.json`` is updated by every concurrent ``put``) hold an
exclusive ``flock`` on a ``.lock`` file beside the state file (:func:`locked`, :func:`update`),
so two commands never lose each other's entries.

A leaf module: it imports nothing from s3lab.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` atomically: temp file, fsync, rename, fsync the folder.

    A crash at any instant leaves the old file or the new one, whole. The file is private
    (``mode``, default 0600): records name ports, pids and log paths of this user's servers.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not every file system allows it: then skip)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_json(path: Path, value: Any) -> None:
    """:func:`write_text` of ``value`` as indented JSON with a final newline."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def read_json(path: Path, default: T, *, kind: type | None = None) -> Any:
    """``path``'s JSON, or ``default`` when it is missing, unreadable, not JSON or not ``kind``.

    ``kind`` (e.g. ``dict`` or ``list``) is the shape the caller expects; another shape counts
    as damage. Damage is logged (not raised): a record is only a hint, checked by its caller.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning("ignoring unreadable state file %s: %s", path, exc)
        return default
    try:
        value = json.loads(text)
    except ValueError as exc:
        logger.warning("ignoring damaged state file %s: %s", path, exc)
        return default
    if kind is not None and not isinstance(value, kind):
        logger.warning("ignoring state file %s: not a JSON %s", path, kind.__name__)
        return default
    return value


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` (on ``path`` + ``.lock``) while inside.

    The lock file is never removed (removing it would let two processes lock two different
    files); the kernel drops the lock when its holder dies, so a killed command never leaves it
    held.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.with_name(f"{path.name}.lock").open("a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update(path: Path, change: Callable[[Any], Any], default: Any, *, kind: type) -> Any:
    """Read ``path``, apply ``change`` to its value, write the result: all under :func:`locked`.

    Returns the new value. Two processes updating the same file one entry each both keep
    their entry.
    """
    with locked(path):
        value = change(read_json(path, default, kind=kind))
        write_json(path, value)
        return value
