"""``s3lab`` commands: configure and doctor."""

from __future__ import annotations

import argparse
import getpass
import sys

from s3lab import sandbox
from s3lab.cli.common import Parser, add_backend, add_job, resolved
from s3lab.errors import UsageError


def _configure(args: argparse.Namespace) -> int:
    from s3lab import configure
    from s3lab.configure import awsfiles

    if args.verb == "list":
        rows = configure.list_settings(args.list_profile or args.profile)
        print(configure.format_settings(rows))
        return 0
    if args.fix_permissions:
        changed = awsfiles.fix_permissions()
        shown = ", ".join(map(str, changed))
        print(f"now private (0600): {shown}" if changed else "already private")
        return 0
    profile = args.profile
    if profile is not None:
        configure.check_profile_name(profile)  # "" is a mistake, not the default profile
    if args.sandbox and (args.kopah or args.endpoint_url or args.access_key_id):
        raise UsageError(
            "--sandbox writes the sandbox's own endpoint and keys",
            "drop --kopah, --endpoint-url and the keys, or drop --sandbox",
        )
    # --kopah with --endpoint-url is Kopah's profile aimed elsewhere: the Ceph rehearsal.
    secret = args.secret_access_key
    if secret == "-":
        secret = configure.read_secret_stdin()
    elif secret:
        print(
            "note: a secret typed on the command line stays in your shell history; "
            "next time use --secret-access-key - and paste it",
            file=sys.stderr,
        )
    if args.s3cmd:
        written = configure.configure_s3cmd(
            profile, backend=args.backend, path=args.s3cmd_file, force=args.force
        )
    elif args.sandbox:
        written = configure.configure_sandbox(
            args.backend, profile=profile or configure.SANDBOX_PROFILE, force=args.force
        )
    elif args.kopah:
        written = configure.configure_kopah(
            profile or "kopah",
            access_key_id=args.access_key_id,
            secret_access_key=secret,
            region=args.region,
            endpoint_url=args.endpoint_url,
            force=args.force,
        )
    else:
        values = {
            "access_key_id": args.access_key_id,
            "secret_access_key": secret,
            "region": args.region,
            "output": args.output,
        }
        if all(v is None for v in values.values()) and args.endpoint_url is None:
            ask_secret = getpass.getpass if sys.stdin.isatty() else _ask
            values = configure.prompt_values(profile or "default", _ask, ask_secret)
        written = configure.configure(
            profile or "default",
            session_token=args.session_token,
            endpoint_url=args.endpoint_url,
            force=args.force,
            **values,
        )
    print(written.summary())
    for path in (awsfiles.credentials_path(), awsfiles.config_path()):
        if awsfiles.too_open(path):
            print(
                f"warning: others can read {path} -- fix: s3lab configure --fix-permissions",
                file=sys.stderr,
            )
    return 0


def _ask(prompt: str) -> str:
    """Ask on stderr and read one line of stdin, so piped answers work like typed ones."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        print(file=sys.stderr)  # end the prompt's line, so the error is a line of its own
        raise UsageError("input ended before every question was answered", "answer all four")
    return line.rstrip("\n")


def add_configure(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab configure`` job and its verbs to the parser."""
    job = add_job(
        sub,
        "configure",
        "write an AWS profile (keys, region, endpoint) the aws command reads",
        "Write ~/.aws/credentials and ~/.aws/config exactly as `aws configure` does, but refuse\n"
        "the classic traps first: a region typo (uswest-2), key and secret swapped, keys inside\n"
        "a git work tree. With no value flags it asks four questions, like `aws configure`.\n"
        "AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are honoured.\n\n"
        "examples:\n"
        "  s3lab configure                                   # interactive\n"
        "  s3lab configure --profile class --access-key-id AKIA... --secret-access-key - \\\n"
        "      --region us-west-2 < secret.txt                # the secret from stdin\n"
        "  s3lab configure --kopah --access-key-id ... --secret-access-key -   # UW Kopah\n"
        "  s3lab configure --sandbox --backend server        # profile s3lab-sandbox\n"
        "  s3lab configure --s3cmd --profile kopah           # ~/.s3cfg for s3cmd, path style\n"
        "  s3lab configure list --profile kopah              # what is set, keys masked",
    )
    job.add_argument("--profile", help="profile to write (default: default; kopah with --kopah)")
    job.add_argument("--access-key-id", metavar="ID")
    job.add_argument("--secret-access-key", metavar="SECRET", help="- reads it from stdin")
    job.add_argument("--session-token", metavar="TOKEN", help="for temporary (ASIA...) keys")
    job.add_argument("--region", help="e.g. us-west-2 (checked against botocore's list)")
    job.add_argument("--output", help="json, text, table, yaml")
    job.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible store's endpoint")
    job.add_argument("--kopah", action="store_true", help="Kopah: endpoint, path style, checksums")
    job.add_argument("--sandbox", action="store_true", help="a profile for the running sandbox")
    job.add_argument("--s3cmd", action="store_true", help="s3cmd's config from --profile/--backend")
    job.add_argument("--s3cmd-file", metavar="PATH", help="with --s3cmd (default: ~/.s3cfg)")
    add_backend(job, "which sandbox, with --sandbox", choices=sandbox.KINDS)
    job.add_argument("--force", action="store_true", help="write keys even inside a git work tree")
    job.add_argument("--fix-permissions", action="store_true", help="chmod 0600 the AWS files")
    job.set_defaults(func=_configure, verb=None, list_profile=None)
    verbs = job.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    show = verbs.add_parser("list", help="profile, keys (masked), region, endpoint: and from where")
    show.add_argument("--profile", dest="list_profile", help="the profile to show")


def _doctor(args: argparse.Namespace) -> int:
    from s3lab import backends
    from s3lab.configure.doctor import doctor

    if args.backend:  # doctor checks what the aws command would see: the backend's variables
        backends.export(resolved(args))
    report = doctor(args.profile)
    print(report.to_json() if args.json else report.table())
    return 0 if report.ok else 1


def add_doctor(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab doctor`` job and its verbs to the parser."""
    from s3lab import backends

    job = add_job(
        sub,
        "doctor",
        "check the aws set-up step by step and say how to fix what fails",
        "Check, in order: the aws command and its version, the region, where credentials come\n"
        "from, whether the endpoint answers (DNS, then connect), whether the keys are accepted\n"
        "(STS, or a signed ListBuckets where there is no STS), S3 listing, FUSE for mounts and\n"
        "the clock. Each failure comes with its fix. Exit code 0 only when all pass.\n\n"
        "examples:\n"
        "  s3lab doctor\n"
        "  s3lab doctor --profile kopah\n"
        "  s3lab doctor --backend server --json",
    )
    job.add_argument("--profile", help="the AWS profile to check (default: AWS_PROFILE or default)")
    add_backend(job, "check a backend's set-up", choices=backends.BACKENDS)
    job.add_argument("--json", action="store_true", help="print the checks as JSON")
    job.set_defaults(func=_doctor)
