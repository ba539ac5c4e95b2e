"""``s3lab`` commands: notebooks."""

from __future__ import annotations

import argparse
import signal
import sys

from s3lab.cli.common import Parser, add_backend, add_job


def _notebooks_run(args: argparse.Namespace) -> int:
    from s3lab import notebooks

    paths = notebooks.notebooks_in(args.notebooks)
    if args.dry_run:
        runs = 0
        for path in paths:
            why_not = notebooks.rehearsal_only(path, args.backend)
            runs += not why_not
            print(
                f"would skip {path.name}: {why_not}"
                if why_not
                else f"would run {path.name} on {args.backend}"
            )
        most = notebooks.most_it_could_cost(runs)
        print(f"at most ${most:.2f} on AWS (requests and storage; sandboxes cost nothing)")
        return 0

    def row(result: notebooks.Result) -> None:
        print(
            f"{result.notebook}: {result.verdict} ({result.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # so the run's clean-up happens on `kill` as on Ctrl-C

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        done = notebooks.run(
            args.backend,
            profile=args.profile,
            prefix=args.prefix,
            out=args.out,
            folder=args.notebooks,
            report=row,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in notebooks.table(done.results):
        print(line)
    print(f"removed {len(done.removed)} bucket(s) starting with {done.prefix}")
    for folder in done.kept:
        print(f"kept {folder}: something in it is still mounted; s3lab unmount it, then delete it")
    print(f"executed notebooks: {done.out}")
    return 0 if done.ok else 1


def add_notebooks(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab notebooks`` job and its verbs to the parser."""
    job = add_job(
        sub,
        "notebooks",
        "run every notebook of the book against a backend, then clean up",
        "Run every notebook with papermill into an output folder, print a table, and remove\n"
        "every bucket the run made (their names start with the run's prefix), even on failure.\n"
        "example:\n"
        "  s3lab notebooks run --backend aws --dry-run\n"
        "  s3lab notebooks run --backend aws --out ~/book-run",
    )
    verbs = job.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    run = verbs.add_parser("run", help="run every notebook; a table of results; clean up")
    add_backend(run, "moto, server, aws or kopah", required=True)
    run.add_argument("--profile", help="the AWS profile (aws, kopah); default: the usual chain")
    run.add_argument("--prefix", help="the run's bucket prefix (default: s3lab-run-<random>)")
    run.add_argument("--out", default="notebooks-run", help="where executed notebooks go")
    run.add_argument("--notebooks", metavar="DIR", help="the notebooks (default: the book's)")
    run.add_argument("--dry-run", action="store_true", help="list them and the most it could cost")
    run.set_defaults(func=_notebooks_run)
