"""What every job's commands share: the parser that turns mistakes into one line."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from s3lab.errors import UsageError


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


def add_job(sub: argparse._SubParsersAction, name: str, help_: str, description: str) -> Parser:
    """One job (`s3lab NAME`) with its help; its verbs are added by the caller."""
    return sub.add_parser(name, help=help_, description=description, formatter_class=formatter)
