"""``s3lab`` commands: check (is an exercise done?)."""

from __future__ import annotations

import argparse

from s3lab.cli.common import Parser, add_backend, add_job, resolved
from s3lab.errors import UsageError


def _check(args: argparse.Namespace) -> int:
    from s3lab import checks

    if args.list:
        for item in checks.EXERCISES.values():
            where = " (local: checks this machine's files)" if item.local else ""
            print(f"{item.id:24} {item.chapter:22} {item.goal}{where}")
        return 0
    if not args.exercise:
        raise UsageError("which exercise?", "name one: `s3lab check --list` lists them")
    client = resolved(args).client("s3") if args.backend or args.profile else None
    result = checks.check(args.exercise, client=client, learner=args.learner)
    print(result.line())
    return 0 if result.done else 1


def add_check(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab check`` job to the parser."""
    job = add_job(
        sub,
        "check",
        "check an exercise of the book: done, or what is still wrong",
        'Look at the exercise\'s bucket (made with s3lab.unique_name("EXERCISE")) and say\n'
        "whether it is done; exit code 0 when done, 1 when not.\n\n"
        "example:\n"
        "  s3lab check --list\n"
        "  s3lab check first-bucket",
    )
    job.add_argument("exercise", nargs="?", metavar="EXERCISE", help="the exercise's id")
    job.add_argument("--list", action="store_true", help="list the exercises")
    job.add_argument("--learner", help="a class learner's buckets (<learner>-EXERCISE-...)")
    add_backend(job)
    job.add_argument("--profile", help="AWS profile, for --backend aws or kopah")
    job.set_defaults(func=_check)
