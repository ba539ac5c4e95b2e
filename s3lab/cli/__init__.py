"""The ``s3lab`` command: ``s3lab <job> <verb>``, a thin layer over the package's functions.

Every handler calls one function that a notebook could call too. Errors a person can fix are
S3LabError; they print as one line (what is wrong, then how to fix it) and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from s3lab.cli import bucket, check, configure, install, mount, notebooks, sandbox
from s3lab.cli.common import Parser, formatter
from s3lab.errors import Interrupted, S3LabError, translate

_JOBS: list[Callable[[argparse._SubParsersAction], None]] = [
    sandbox.add_sandbox,
    configure.add_configure,
    configure.add_doctor,
    bucket.add_bucket,
    install.add_install,
    mount.add_mount,
    mount.add_unmount,
    notebooks.add_notebooks,
    check.add_check,
]


def build_parser() -> Parser:
    """The whole command tree; each job adds its own verbs."""
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
    for add in _JOBS:
        add(sub)
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
    parser = build_parser()
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
            print(translated.one_line(), file=sys.stderr)
        except BrokenPipeError:
            return _stdout_gone()
        return translated.exit_code


if __name__ == "__main__":
    sys.exit(main())
