"""The ``s3lab`` command: ``s3lab <job> <verb>``, a thin layer over the package's functions.

Every handler calls one function that a notebook could call too. Errors a person can fix are
S3LabError; they print as one line (what is wrong, then how to fix it) and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from s3lab.cli.common import Parser, formatter
from s3lab.errors import Interrupted, S3LabError, translate

#: Each job, in the order ``s3lab --help`` lists them: the module in ``s3lab/cli/`` and the
#: function there that adds its verbs. A command imports only its own job's module (and that
#: module imports what a verb needs when it runs), so ``s3lab bucket remove`` starts fast.
_JOBS: dict[str, tuple[str, str]] = {
    "sandbox": ("sandbox", "add_sandbox"),
    "configure": ("configure", "add_configure"),
    "doctor": ("configure", "add_doctor"),
    "bucket": ("bucket", "add_bucket"),
    "install": ("install", "add_install"),
    "mount": ("mount", "add_mount"),
    "unmount": ("mount", "add_unmount"),
    "notebooks": ("notebooks", "add_notebooks"),
    "check": ("check", "add_check"),
    "classroom": ("classroom", "add_classroom"),
}


def _adder(job: str) -> Callable[[argparse._SubParsersAction[Parser]], None]:
    module, function = _JOBS[job]
    adder: Callable[[argparse._SubParsersAction[Parser]], None] = getattr(
        importlib.import_module(f"s3lab.cli.{module}"), function
    )
    return adder


def build_parser(job: str | None = None) -> Parser:
    """The command tree; each job adds its own verbs. With ``job``, only that job's.

    A parser with one job parses that job's command lines exactly as the whole tree does;
    ``--help`` and a mistyped job get the whole tree (main() does that).
    """
    parser = Parser(
        prog="s3lab",
        formatter_class=formatter,
        description="Learn and use S3 object storage: install, configure, buckets, mounts.\n"
        "Every job works on a local sandbox first: `s3lab sandbox start`.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and s3lab's log (keys never shown)"
    )
    sub = parser.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
    for name in [job] if job in _JOBS else _JOBS:
        _adder(name)(sub)
    return parser


#: Exit code when the reader of our output went away (``s3lab bucket list | head -1``): 128 +
#: SIGPIPE, what a shell reports for any Unix tool stopped by a closed pipe. Nothing is printed:
#: the reader asked for no more. Under ``set -o pipefail`` it counts as a failure, as for ``ls``.
EXIT_BROKEN_PIPE = 141
#: Exit code after Ctrl-C: 128 + SIGINT, as the shell reports it.
EXIT_INTERRUPTED = 130


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Take ``--debug`` from anywhere before a ``--`` (so ``s3lab bucket list --debug`` works)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:cut] if a != "--debug"]
    return head + argv[cut:], len(head) != cut


def _debug_logging() -> None:
    """s3lab's own log lines on stderr. botocore's stay off: they would print signed headers."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    logger = logging.getLogger("s3lab")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _stdout_gone() -> int:
    """The reader closed the pipe: point stdout at /dev/null so the exit flush cannot fail."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _path_error(exc: BaseException) -> S3LabError | None:
    """A file system error on a named path (missing, a file, not writable) as one line."""
    if isinstance(exc, OSError) and exc.filename:
        return S3LabError(
            f"{exc.filename}: {exc.strerror or exc}",
            "check the path: it must exist (or its folder must), be a folder where one is "
            "needed, and be writable by you",
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (0 only on success).

    A mistake a person can fix prints one line, ``error: WHAT -- fix: HOW``; ``--debug`` (anywhere
    before ``--``) adds the traceback and s3lab's log lines. A closed output pipe ends quietly
    with 141; Ctrl-C ends with 130.
    """
    args_list, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    if debug:
        _debug_logging()
    # The job is the first word (main() took --debug out already; anything else first, such
    # as --help, gets the whole tree).
    parser = build_parser(args_list[0] if args_list else None)
    try:
        args = parser.parse_args(args_list)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then seen and handled below
        return code
    except BrokenPipeError:
        return _stdout_gone()
    except KeyboardInterrupt as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, Interrupted):
            print(exc.one_line(), file=sys.stderr)
        else:
            print("error: interrupted -- fix: run the same command again", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        translated = translate(exc) or _path_error(exc)
        if translated is None:
            raise
        if debug:
            traceback.print_exc()
        try:
            # A copy that skipped some items: one line each, then the line with the count.
            for warning in getattr(translated, "warnings", None) or []:
                print(f"warning: {warning}", file=sys.stderr)
            print(translated.one_line(), file=sys.stderr)
        except BrokenPipeError:
            return _stdout_gone()
        return translated.exit_code


if __name__ == "__main__":
    sys.exit(main())
