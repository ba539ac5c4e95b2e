"""What every job's commands share: the parser that turns mistakes into one line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from s3lab.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line with the fix, like every other error."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage, so main() prints the one line."""
        raise UsageError(message, f"see `{self.prog} --help`")


Handler = Callable[[argparse.Namespace], int | None]


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help that keeps the examples as written (line breaks and indents)."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_job(sub: argparse._SubParsersAction, name: str, help_: str, description: str) -> Parser:
    """One job (`s3lab NAME`) with its help; its verbs are added by the caller."""
    return sub.add_parser(name, help=help_, description=description, formatter_class=formatter)
