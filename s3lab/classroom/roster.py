"""A class's roster: names that can start every bucket name of a learner.

None may reach another learner's buckets: ``ada`` would reach ``ada-l``'s, which start ``ada-``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from s3lab.buckets import names
from s3lab.errors import UsageError

MAX_NAME = 20  # so that <learner>-<prefix>-<date>-<random> still fits in 63
MAX_LEARNERS = 500
_NAME = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")
_RESERVED = ("instructor", "learner", "s3lab", "sthree", "xn", "amzn")


def check_name(name: str) -> str:
    """Return ``name`` if it can start every bucket name of a learner, else raise UsageError."""
    why = ""
    if not 2 <= len(name) <= MAX_NAME:
        why = f"it must be 2 to {MAX_NAME} characters long"
    elif not _NAME.fullmatch(name):
        why = "it must be lowercase letters, digits and hyphens, start with a letter, not end in -"
    elif "--" in name:
        why = "it must not hold two hyphens in a row"
    elif name in _RESERVED:
        why = "it is reserved"
    if why:
        suggestion = names.clean_prefix(name)[:MAX_NAME].strip("-")
        if not suggestion[:1].isalpha() or suggestion in _RESERVED or len(suggestion) < 2:
            suggestion = f"l-{suggestion}"[:MAX_NAME].strip("-")
        raise UsageError(
            f"learner name {name!r} cannot start a bucket name: {why}",
            f"use a name such as {suggestion!r}",
        )
    return name


def check_roster(roster: Iterable[str]) -> list[str]:
    """Valid, unique names, none of which reaches another's buckets (``ada`` and ``ada-l``)."""
    checked: list[str] = []
    for name in roster:
        check_name(name)
        if name in checked:
            raise UsageError(
                f"learner {name!r} is on the roster twice",
                "give each learner one line with a name of their own",
            )
        clash = next(
            (o for o in checked if name.startswith(f"{o}-") or o.startswith(f"{name}-")), None
        )
        if clash:
            short, long_ = sorted((name, clash), key=len)
            raise UsageError(
                f"learner {short!r} would reach the buckets of {long_!r} (theirs start with "
                f"{short}-)",
                f"rename one of them, e.g. {short.replace('-', '')}1",
            )
        checked.append(name)
    if not checked:
        raise UsageError("the roster names no learner", "put one name a line in the roster file")
    return checked


def read_roster(path: Path | str) -> list[str]:
    """Names from a roster file: one a line; blank lines and ``#`` comments are skipped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(
            f"cannot read the roster {path}: {exc.strerror or exc}",
            "give a text file with one learner name a line",
        ) from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return check_roster(line for line in lines if line)


def numbered(count: int) -> list[str]:
    """``learner01`` ... for a class without a roster."""
    if not 1 <= count <= MAX_LEARNERS:
        raise UsageError(
            f"{count} learners is not a class size s3lab serves", f"choose 1 to {MAX_LEARNERS}"
        )
    width = max(2, len(str(count)))
    return [f"learner{n:0{width}d}" for n in range(1, count + 1)]
