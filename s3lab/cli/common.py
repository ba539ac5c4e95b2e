"""What every job's commands share: the parser that turns mistakes into one line, ``--backend``.

The one ``--backend`` option, and the one place its value becomes a
:class:`~s3lab.backends.Backend` (:func:`resolved`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from s3lab.errors import UsageError

if TYPE_CHECKING:
    from s3lab.backends import Backend

#: What ``--backend`` says in the jobs that send requests to any backend.
BACKEND_HELP = "moto, server, aws or kopah (default: $S3LAB_BACKEND)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line with the fix, like every other error."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage, so main() prints the one line.

        A value refused by :func:`number` carries its own fix (after :data:`_FIX`).
        """
        message, _, fix = message.partition(_FIX)
        raise UsageError(message, fix or f"see `{self.prog} --help`")


#: Between a refused value's message and its fix, inside argparse's message (see :func:`number`).
_FIX = "\x1f"


def number(
    kind: type[int] | type[float], low: float, high: float, what: str
) -> Callable[[str], int | float]:
    """An argparse ``type=``: a ``kind`` from ``low`` to ``high``, else one line with the range.

    S3 itself refuses values out of range (a port, a part count); s3lab refuses them before
    anything starts, and so does every value that would silently do nothing (``--count 0``,
    ``--workers -1``, a timeout of ``nan``).
    """
    name = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        shown = [f"{v:,}" if kind is int else f"{v:g}" for v in (low, high)]
        fix = f"give {name} from {shown[0]} to {shown[1]} ({what})"
        try:
            value = kind(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}{_FIX}{fix}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range{_FIX}{fix}")
        return value

    parse.__name__ = kind.__name__
    return parse


Handler = Callable[[argparse.Namespace], int | None]


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help that keeps the examples as written (line breaks and indents)."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_job(
    sub: argparse._SubParsersAction[Parser], name: str, help_: str, description: str
) -> Parser:
    """One job (`s3lab NAME`) with its help; its verbs are added by the caller."""
    return sub.add_parser(name, help=help_, description=description, formatter_class=formatter)


def add_backend(
    parser: argparse.ArgumentParser,
    help_: str | None = BACKEND_HELP,
    *,
    choices: Sequence[str] | None = None,
    **kwargs: Any,
) -> None:
    """The ``--backend`` option of a job: where its requests go (``choices`` to narrow it).

    The value is not checked here but by :func:`resolved` (:func:`s3lab.backends.resolve`),
    once, so a typo gets the same "did you mean" line from every job.
    """
    parser.add_argument("--backend", help=help_, choices=choices, **kwargs)


def resolved(args: argparse.Namespace, **kwargs: Any) -> Backend:
    """The job's ``--backend`` and ``--profile`` as a Backend: resolved once, then passed down.

    Raises:
        UsageError: the backend named (or ``$S3LAB_BACKEND``) is not one s3lab knows.
        SandboxError: the sandbox named is not running.
    """
    from s3lab import backends  # here: `--help` imports none of the library

    return backends.resolve(
        getattr(args, "backend", None), profile=getattr(args, "profile", None), **kwargs
    )
