"""The ``s3lab`` command: ``s3lab <job> <verb>``, a thin layer over the package's functions.

Every handler calls one function that a notebook could call too. Errors a person can fix are
S3LabError; they print as one line (what is wrong, then how to fix it) and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from s3lab import sandbox
from s3lab.errors import Interrupted, S3LabError, UsageError, translate


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line with the fix, like every other error."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage, so main() prints the one line."""
        raise UsageError(message, f"see `{self.prog} --help`")


Handler = Callable[[argparse.Namespace], int | None]


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _job(sub: argparse._SubParsersAction, name: str, help_: str, description: str) -> Parser:
    return sub.add_parser(name, help=help_, description=description, formatter_class=_formatter)


# --- sandbox ------------------------------------------------------------------------------------


def _backends(value: str) -> list[str]:
    return list(sandbox.SANDBOXES) if value == "all" else [sandbox.check_sandbox(value)]


def _sandbox_start(args: argparse.Namespace) -> int:
    from s3lab import configure

    if args.port and args.backend == "all":
        raise UsageError("--port needs a single backend", "add --backend moto or --backend server")
    for name in _backends(args.backend):
        print(f"starting the {name} sandbox...", file=sys.stderr, flush=True)
        box, note = configure.start_sandbox(name, port=args.port, timeout=args.timeout)
        print(f"{name}: running at {box.endpoint_url} (pid {box.pid})")
        if note:
            print(f"note: {note}", file=sys.stderr)
    print('next: eval "$(s3lab sandbox env)"  then  aws s3 ls', file=sys.stderr)
    return 0


def _sandbox_stop(args: argparse.Namespace) -> int:
    backend = None if args.backend == "all" else args.backend
    stopped = sandbox.stop(backend)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _sandbox_status(args: argparse.Namespace) -> int:
    backend = None if args.backend == "all" else args.backend
    rows = sandbox.status(backend)
    for row in rows:
        where = f" {row.endpoint_url} (pid {row.pid})" if row.endpoint_url else ""
        detail = f"  -- {row.detail}" if row.detail else ""
        print(f"{row.backend:7} {row.state:8}{where}{detail}")
    return 0 if all(row.state == "running" for row in rows) else 1


def _sandbox_env(args: argparse.Namespace) -> int:
    from s3lab import backends

    sys.stdout.write(sandbox.env_exports(backends.running_sandbox(args.backend)))
    return 0


def _sandbox_run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UsageError("no command to run", "put it after --: s3lab sandbox run -- aws s3 ls")
    names = _backends(args.backend)
    started = [sandbox.start(name, timeout=args.timeout) for name in names]
    env = dict(os.environ)
    env.update(started[0].env())
    if len(names) > 1:
        env.pop("S3LAB_BACKEND")  # both run: each notebook or command picks its own
    try:
        return subprocess.call(command, env=env)
    finally:
        if not args.keep:
            for name in names:
                sandbox.stop(name)


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    job = _job(
        sub,
        "sandbox",
        "local S3 servers on 127.0.0.1: no account, no cost",
        "Run a local S3 endpoint so every command and notebook works with no AWS account.\n\n"
        "  moto    a mock S3 in memory: fast, checks no signatures\n"
        "  server  SeaweedFS, a real S3 server: keeps data in ~/.s3lab, rejects wrong keys\n"
        "  ceph    Ceph's S3 gateway, as Kopah runs (root, Debian/Ubuntu; not in `all`)\n\n"
        "example:\n"
        "  s3lab sandbox start --backend server\n"
        '  eval "$(s3lab sandbox env)"\n'
        "  aws s3 mb s3://my-first-bucket && aws s3 ls\n"
        "  s3lab sandbox stop",
    )
    verbs = job.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    choices = [*sandbox.KINDS, "all"]

    start = verbs.add_parser("start", help="start a sandbox (does nothing if it already runs)")
    start.add_argument("--backend", choices=choices, default="moto")
    start.add_argument("--port", type=int, help="S3 port (default: a free one)")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for it")
    start.set_defaults(func=_sandbox_start)

    stop = verbs.add_parser("stop", help="stop a sandbox (data of `server` is kept)")
    stop.add_argument("--backend", choices=choices, default="all")
    stop.set_defaults(func=_sandbox_stop)

    status = verbs.add_parser("status", help="running, stale or stopped; exit 0 only if running")
    status.add_argument("--backend", choices=choices, default="all")
    status.set_defaults(func=_sandbox_status)

    env = verbs.add_parser("env", help='print export lines: eval "$(s3lab sandbox env)"')
    env.add_argument("--backend", choices=sandbox.KINDS, help="default: the one running")
    env.set_defaults(func=_sandbox_env)

    run = verbs.add_parser("run", help="start, run one command with the sandbox's variables, stop")
    run.add_argument("--backend", choices=choices, default="moto")
    run.add_argument("--keep", action="store_true", help="leave the sandbox running after")
    run.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for start")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=_sandbox_run)


# --- configure and doctor -----------------------------------------------------------------------


def _configure(args: argparse.Namespace) -> int:
    from s3lab import awsfiles, configure

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
    if args.kopah and args.endpoint_url:
        raise UsageError(
            "--kopah sets Kopah's endpoint; --endpoint-url would contradict it",
            "drop --endpoint-url (or --kopah for another store)",
        )
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


def _add_configure(sub: argparse._SubParsersAction) -> None:
    job = _job(
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
    job.add_argument("--backend", choices=sandbox.KINDS, help="which sandbox, with --sandbox")
    job.add_argument("--force", action="store_true", help="write keys even inside a git work tree")
    job.add_argument("--fix-permissions", action="store_true", help="chmod 0600 the AWS files")
    job.set_defaults(func=_configure, verb=None, list_profile=None)
    verbs = job.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    show = verbs.add_parser("list", help="profile, keys (masked), region, endpoint: and from where")
    show.add_argument("--profile", dest="list_profile", help="the profile to show")


def _doctor(args: argparse.Namespace) -> int:
    from s3lab import backends
    from s3lab.doctor import doctor

    if args.backend:
        backends.use(args.backend, profile=args.profile)
    report = doctor(args.profile)
    print(report.to_json() if args.json else report.table())
    return 0 if report.ok else 1


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    from s3lab import backends

    job = _job(
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
    job.add_argument("--backend", choices=backends.BACKENDS, help="check a backend's set-up")
    job.add_argument("--json", action="store_true", help="print the checks as JSON")
    job.set_defaults(func=_doctor)


# --- bucket -------------------------------------------------------------------------------------


def _bucket_client(args: argparse.Namespace, **kwargs: object) -> object:
    from s3lab import buckets

    return buckets.client_for(args.backend, profile=args.profile, **kwargs)


def _bucket_name(args: argparse.Namespace) -> int:
    from s3lab import names

    for _ in range(args.count):
        print(names.unique_name(args.prefix))
    return 0


def _bucket_validate(args: argparse.Namespace) -> int:
    from s3lab import names

    broken = names.validate(args.name)
    if broken:
        print(f"invalid: {args.name}: it {broken}")
        return 1
    print(f"valid: {args.name}")
    return 0


def _bucket_make(args: argparse.Namespace) -> int:
    from s3lab import buckets

    client = _bucket_client(args, **({"region_name": args.region} if args.region else {}))
    name = buckets.make_bucket(client, args.name, args.region, owner=args.owner)
    print(f"made: s3://{name}")
    return 0


def _bucket_list(args: argparse.Namespace) -> int:
    from s3lab import buckets

    client = _bucket_client(args)
    if not args.url:
        for row in buckets.list_buckets(client):
            created = row["created"]
            when = created.strftime("%Y-%m-%d %H:%M:%S") if created else ""
            print(f"{when:19}  {row['name']}")
        return 0
    bucket, prefix = buckets.split_url(args.url)
    total = buckets.Usage()
    for item in buckets.iter_objects(client, bucket, prefix):
        total.objects += 1
        total.bytes += item.size
        print(f"{item.size:>14,}  {item.key}")
    print(f"total: {total.objects} objects, {buckets.human_size(total.bytes)}")
    return 0


def _print_plan(plan: object, dry_run: bool) -> None:
    lines = plan.lines()  # type: ignore[attr-defined]
    for line in lines:
        print(f"(dry run) {line}" if dry_run else line)
    skipped = f", {plan.skipped} already there" if plan.skipped else ""  # type: ignore[attr-defined]
    verb = "would copy" if dry_run else "copied"
    print(f"{verb} {len(lines)} files{skipped}", file=sys.stderr)


def _bucket_put(args: argparse.Namespace) -> int:
    from s3lab import transfer

    plan = transfer.put(_bucket_client(args), args.source, args.url, quiet=args.quiet)
    _print_plan(plan, False) if args.verbose else print(f"uploaded {len(plan.pairs)} files")
    return 0


def _bucket_get(args: argparse.Namespace) -> int:
    from s3lab import transfer

    plan = transfer.get(_bucket_client(args), args.url, args.target, quiet=args.quiet)
    _print_plan(plan, False) if args.verbose else print(f"downloaded {len(plan.pairs)} files")
    return 0


def _bucket_sync(args: argparse.Namespace) -> int:
    from s3lab import transfer

    plan = transfer.sync(
        _bucket_client(args), args.source, args.target, dry_run=args.dry_run, quiet=args.quiet
    )
    _print_plan(plan, args.dry_run)
    return 0


def _bucket_copy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from s3lab import copy

    source = copy.client(args.from_backend, args.from_profile)
    dest = copy.client(args.to_backend, args.to_profile)
    (src_bucket, src_prefix), (dst_bucket, dst_prefix) = map(copy.split, (args.source, args.target))
    bars: list[tqdm] = []

    def plan(objects: int, size: int, skipped: int) -> None:
        print(
            f"to copy: {objects} objects ({size:,} bytes); {skipped} already there", file=sys.stderr
        )
        if not args.quiet:
            bars.append(
                tqdm(total=size, unit="B", unit_scale=True, file=sys.stderr, mininterval=0.5)
            )

    def grew(sent: int) -> None:
        if bars:
            bars[0].update(sent)

    try:
        done = copy.copy_bucket(
            source, src_bucket, dest, dst_bucket, src_prefix=src_prefix, dst_prefix=dst_prefix,
            workers=args.workers, on_plan=plan, on_bytes=grew,
        )  # fmt: skip
    finally:
        for bar in bars:
            bar.close()
    print(done.summary())
    if args.no_verify:
        return 0
    checked = copy.verify(
        source, src_bucket, dest, dst_bucket, src_prefix=src_prefix, dst_prefix=dst_prefix
    )
    for problem in checked.problems[:5]:
        print(f"  {problem}", file=sys.stderr)
    if not checked.ok:
        raise S3LabError(
            f"{len(checked.problems)} objects differ after the copy",
            "run the same command again: it sends only what is missing or different",
        )
    print(checked.summary())
    return 0


def _bucket_remove(args: argparse.Namespace) -> int:
    from s3lab import buckets

    bucket, _ = buckets.split_url(args.name)
    done = buckets.remove_bucket(
        _bucket_client(args), bucket, force=args.force, dry_run=args.dry_run
    )
    if args.dry_run:
        print(f"(dry run) would delete {done.summary()}, then the bucket {bucket}")
    else:
        print(f"removed s3://{bucket}: deleted {done.summary()}")
    return 0


def _bucket_cost(args: argparse.Namespace) -> int:
    from s3lab import buckets, cost

    if args.name:
        bucket, _ = buckets.split_url(args.name)
        print("\n".join(cost.bucket_cost(_bucket_client(args), bucket).lines()))
    print("\n".join(cost.seed_arithmetic()))
    print(f"prices: {cost.PRICES['unit']}; as of {cost.PRICES['date']}")
    print(f"source: {cost.PRICES['source']}")
    return 0


def _bucket_cleanup(args: argparse.Namespace) -> int:
    from s3lab import buckets

    if not (args.made_by_s3lab or args.owner):
        raise UsageError(
            "cleanup removes only buckets s3lab made: say so",
            "add --made-by-s3lab (with --older-than AGE), or --owner NAME",
        )
    buckets.cleanup(
        _bucket_client(args),
        owner=args.owner,
        older_than=args.older_than,
        dry_run=args.dry_run,
        report=print,
    )
    return 0


def _add_bucket(sub: argparse._SubParsersAction) -> None:
    job = _job(
        sub,
        "bucket",
        "buckets: names, make, list, copy, sync, remove --force, cost, cleanup",
        "Make, fill, empty and remove buckets, faster and more completely than `aws s3`.\n\n"
        "Names are global, so generate them; remove --force also deletes old versions,\n"
        "delete markers and unfinished uploads, 1,000 keys a request, in parallel.\n\n"
        "example:\n"
        "  name=$(s3lab bucket name --prefix my-project)\n"
        "  s3lab bucket make $name --region us-west-2\n"
        "  s3lab bucket sync ./data s3://$name/data\n"
        "  s3lab bucket list s3://$name\n"
        "  s3lab bucket cost $name\n"
        "  s3lab bucket remove $name --force",
    )
    verbs = job.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    common = Parser(add_help=False)
    common.add_argument("--backend", help="moto, server, aws or kopah (default: $S3LAB_BACKEND)")
    common.add_argument("--profile", help="AWS profile, for --backend aws or kopah")
    copying = Parser(add_help=False)
    copying.add_argument("--quiet", action="store_true", help="no progress bar")
    copying.add_argument("--verbose", action="store_true", help="one line per file")

    def verb(name: str, help_: str, example: str, *parents: Parser) -> Parser:
        return verbs.add_parser(
            name,
            help=help_,
            description=f"{help_[0].upper()}{help_[1:]}.\n\nexample:\n  {example}",
            formatter_class=_formatter,
            parents=list(parents),
        )

    name = verb(
        "name", "print a new, valid, unique bucket name", "s3lab bucket name --prefix my-lab"
    )
    name.add_argument("--prefix", default="s3lab", help="readable start (cleaned to be valid)")
    name.add_argument("--count", type=int, default=1, help="how many names")
    name.set_defaults(func=_bucket_name)

    copying_between = verb(
        "copy",
        "copy a bucket to another store (AWS to Kopah), streamed, resumable, verified",
        "s3lab bucket copy s3://my-aws-bucket s3://my-kopah-bucket "
        "--from-profile default --to-profile kopah",
    )
    copying_between.add_argument("source", metavar="s3://SOURCE[/PREFIX]")
    copying_between.add_argument("target", metavar="s3://TARGET[/PREFIX]")
    for side in ("from", "to"):
        copying_between.add_argument(f"--{side}-profile", metavar="PROFILE")
        copying_between.add_argument(
            f"--{side}-backend", metavar="BACKEND", help="moto, server, ceph, aws or kopah"
        )
    copying_between.add_argument("--workers", type=int, default=8, help="objects at a time")
    copying_between.add_argument("--no-verify", action="store_true", help="skip the check after")
    copying_between.add_argument("--quiet", action="store_true", help="no progress bar")
    copying_between.set_defaults(func=_bucket_copy)

    check = verb(
        "validate",
        "check a name against every bucket naming rule; exit 1 with the rule it breaks",
        "s3lab bucket validate icesat-II-deform-01012024-U6837154",
    )
    check.add_argument("name")
    check.set_defaults(func=_bucket_validate)

    make = verb(
        "make",
        "make a bucket (region constraint done right) tagged made-by=s3lab, owner, date",
        "s3lab bucket make $(s3lab bucket name) --region us-west-2",
        common,
    )
    make.add_argument("name")
    make.add_argument("--region", help="default: the backend's region")
    make.add_argument("--owner", help="the owner tag (default: your login name)")
    make.set_defaults(func=_bucket_make)

    listing = verb(
        "list",
        "list your buckets, or the objects under s3://BUCKET/PREFIX with sizes and a total",
        "s3lab bucket list s3://BUCKET/data/",
        common,
    )
    listing.add_argument("url", nargs="?", help="s3://BUCKET[/PREFIX] (default: the buckets)")
    listing.set_defaults(func=_bucket_list)

    put = verb(
        "put",
        "upload a file or a folder, in parallel",
        "s3lab bucket put ./data s3://BUCKET/data/",
        common,
        copying,
    )
    put.add_argument("source")
    put.add_argument("url", metavar="s3://BUCKET/KEY")
    put.set_defaults(func=_bucket_put)

    get = verb(
        "get",
        "download an object or a prefix, in parallel",
        "s3lab bucket get s3://BUCKET/data/ ./data",
        common,
        copying,
    )
    get.add_argument("url", metavar="s3://BUCKET/KEY")
    get.add_argument("target")
    get.set_defaults(func=_bucket_get)

    sync_ = verb(
        "sync",
        "copy only what is missing or changed (rerun to resume)",
        "s3lab bucket sync ./data s3://BUCKET/data --dry-run",
        common,
        copying,
    )
    sync_.add_argument("source")
    sync_.add_argument("target")
    sync_.add_argument("--dry-run", action="store_true", help="print what would be copied")
    sync_.set_defaults(func=_bucket_sync)

    remove = verb(
        "remove",
        "remove a bucket; --force first deletes everything in it (no undo)",
        "s3lab bucket remove BUCKET --force --dry-run",
        common,
    )
    remove.add_argument("name")
    remove.add_argument("--force", action="store_true", help="delete objects, versions, uploads")
    remove.add_argument(
        "--dry-run", action="store_true", help="count what would go; delete nothing"
    )
    remove.set_defaults(func=_bucket_remove)

    cost = verb(
        "cost",
        "size, object count and estimated monthly cost of a bucket (and the 9 EB sum)",
        "s3lab bucket cost BUCKET",
        common,
    )
    cost.add_argument("name", nargs="?")
    cost.set_defaults(func=_bucket_cost)

    clean = verb(
        "cleanup",
        "remove the buckets s3lab made (by owner tag and age); others are never touched",
        "s3lab bucket cleanup --made-by-s3lab --older-than 1d --dry-run",
        common,
    )
    clean.add_argument("--owner", help="only buckets whose owner tag is this")
    clean.add_argument("--made-by-s3lab", action="store_true", help="any bucket s3lab made")
    clean.add_argument("--older-than", help="only buckets older than this: 90m, 12h, 1d, 2w")
    clean.add_argument("--dry-run", action="store_true", help="list them; delete nothing")
    clean.set_defaults(func=_bucket_cleanup)


# --- install ------------------------------------------------------------------------------------


def _install(args: argparse.Namespace) -> int:
    from s3lab import install
    from s3lab.download import Progress

    install.install(
        args.tool,
        dry_run=args.dry_run,
        method=args.method,
        update=args.update,
        arch=args.arch,
        install_dir=args.install_dir,
        bin_dir=args.bin_dir,
        progress=Progress(say=_say, warn=_warn, meter=_byte_bar),
    )
    return 0


def _say(line: str) -> None:
    print(line, flush=True)  # flushed: a child's output and the bar on stderr interleave


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _byte_bar(name: str, total: int | None, initial: int) -> Iterator[Callable[[int], None]]:
    """A download's bytes as a tqdm bar on stderr."""
    from tqdm import tqdm

    with tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        desc=f"  {name[:40]}",
        file=sys.stderr,
        mininterval=0.5,
    ) as bar:
        yield bar.update


def _add_install(sub: argparse._SubParsersAction) -> None:
    from s3lab import install

    job = _job(
        sub,
        "install",
        "install the AWS CLI v2, Mountpoint, FUSE, s3fs or rclone (signatures checked)",
        "Install a tool the way its makers publish it, with a plan shown first.\n\n"
        "  awscli      the AWS CLI v2 zip: signature checked against the pinned AWS key,\n"
        "              unzipped by Python (no `unzip`), into ~/.local without root (no sudo)\n"
        "              methods: official (default), pip (v1 into this environment), system\n"
        "  mountpoint  Mountpoint for Amazon S3 (.deb or .rpm, signature checked; needs root)\n"
        "  fuse        the FUSE 3 package (needed by every mount)\n"
        "  s3fs        s3fs-fuse, a mount alternative (system package)\n"
        "  rclone      rclone, a mount alternative (pip: no root; or --method system)\n\n"
        "Running it again is safe: an installed tool is reported, nothing is downloaded.\n"
        "Download URLs are settings (for mirrors and tests): S3LAB_AWSCLI_URL,\n"
        "S3LAB_MOUNTPOINT_URL, and S3LAB_AWSCLI_KEY_URL for the public key (a URL, or\n"
        "file:///path to the key block pasted from the AWS guide). Any key is trusted only\n"
        "if its fingerprint is the pinned one shown in the plan.\n\n"
        "example:\n"
        "  s3lab install awscli --dry-run    # the URLs, the key fingerprint, the folders\n"
        "  s3lab install awscli              # then do it\n"
        "  s3lab install awscli --update     # later: fetch the latest version",
    )
    job.add_argument("tool", choices=install.TOOLS, metavar="TOOL", help=", ".join(install.TOOLS))
    job.add_argument(
        "--dry-run", action="store_true", help="print the plan (URLs, checks, paths, commands) only"
    )
    job.add_argument("--method", help="official, pip or system (default: the first for the tool)")
    job.add_argument("--update", action="store_true", help="install the latest over an old one")
    job.add_argument("--arch", help="plan for another architecture (x86_64, aarch64)")
    job.add_argument("--install-dir", help="awscli: where the files go (default: see the plan)")
    job.add_argument("--bin-dir", help="awscli: where the `aws` link goes (default: see the plan)")
    job.set_defaults(func=_install)


# --- mount and unmount ------------------------------------------------------------------------


def _here(text: str) -> str:
    """``text`` with paths under the current folder shown relative to it, as a person typed them.

    ``s3lab mount my-bucket bucket`` then says "mounted ... on bucket", not the absolute path.
    """
    return text.replace(f"{Path.cwd()}/".replace("//", "/"), "")


def _mount(args: argparse.Namespace) -> int:
    from s3lab import mount

    if args.list:
        found = mount.mounts()
        for row in found:
            print(_here(row.describe()))
        if not found:
            print("no bucket is mounted")
        return 0
    if not args.bucket or not args.directory:
        raise UsageError("mount needs a BUCKET and a DIR", "s3lab mount my-bucket ~/bucket")
    names = "tool allow_delete allow_overwrite read_only prefix profile endpoint_url path_style"
    names += " uid gid allow_other"
    options = {name: getattr(args, name) for name in names.split()}
    if args.persist:
        text, where = mount.persist(args.bucket, args.directory, **options)
        print(text)
        print(f"note: {where}; nothing was mounted now", file=sys.stderr)
        return 0
    done = mount.mount(args.bucket, args.directory, **options, timeout=args.timeout)
    for note in done.notes:
        print(_here(f"note: {note}"), file=sys.stderr)
    flags = f" ({', '.join(done.flags)})" if done.flags else ""
    where = f"s3://{args.bucket}/{done.prefix}"
    folder = _here(str(done.directory))
    print(f"mounted {where} on {folder} with {done.tool}{flags}")
    print(f"next: ls -al {folder}   then   s3lab unmount {folder}", file=sys.stderr)
    return 0


def _add_mount(sub: argparse._SubParsersAction) -> None:
    job = _job(
        sub,
        "mount",
        "a bucket as a folder (Mountpoint, rclone or s3fs)",
        "Mount a bucket on an empty folder, with Mountpoint's flags.\n\n"
        "--tool auto picks mount-s3 (Mountpoint) when it is installed, else rclone (the\n"
        "closest: sequential writes only, no appends), else s3fs, and says which. rclone and s3fs\n"
        "cannot refuse deletes or overwrites: they happen with or without --allow-delete and\n"
        "--allow-overwrite (s3lab prints a note); --read-only is the safe choice there.\n"
        "Credentials and the endpoint come from the backend switch (S3LAB_BACKEND, the sandbox\n"
        "included) or --profile; keys never go on a command line.\n\n"
        "examples:\n"
        "  s3lab mount my-bucket ~/bucket --allow-delete\n"
        "  s3lab mount my-bucket ~/kopah --profile kopah --endpoint-url https://s3.kopah.uw.edu\n"
        "  s3lab mount --list\n"
        "  s3lab unmount ~/bucket",
    )
    job.add_argument("bucket", nargs="?", metavar="BUCKET")
    job.add_argument("directory", nargs="?", metavar="DIR", help="an empty folder (created if new)")
    job.add_argument("--list", action="store_true", help="show the mounted buckets and stop")
    tools = ["auto", "mountpoint", "rclone", "s3fs"]
    job.add_argument(
        "--tool", default="auto", choices=tools, help="the mount program (default: auto)"
    )
    # The option's earlier name, still accepted; --backend elsewhere means where requests go.
    job.add_argument("--backend", dest="tool", choices=tools, help=argparse.SUPPRESS)
    job.add_argument("--allow-delete", action="store_true", help="let rm delete objects")
    job.add_argument("--allow-overwrite", action="store_true", help="let > replace objects")
    job.add_argument("--read-only", action="store_true", help="no writes at all")
    job.add_argument("--prefix", help="mount only this prefix (folder) of the bucket")
    job.add_argument("--profile", help="the AWS profile (for aws/kopah)")
    job.add_argument("--endpoint-url", help="an S3-compatible endpoint, e.g. Kopah's")
    job.add_argument(
        "--path-style",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="path-style addressing (default: on for a custom endpoint)",
    )
    job.add_argument("--uid", type=int, help="owner of the files (a number)")
    job.add_argument("--gid", type=int, help="group of the files (a number)")
    job.add_argument(
        "--allow-other",
        action="store_true",
        help="let other users (root and containers included) use the mount; not root: needs "
        "user_allow_other in /etc/fuse.conf",
    )
    job.add_argument(
        "--persist",
        action="store_true",
        help="mount nothing now: print the /etc/fstab line (Mountpoint, s3fs) or systemd unit "
        "(rclone) that mounts it at every boot",
    )
    job.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the mount")
    job.set_defaults(func=_mount)


def _unmount(args: argparse.Namespace) -> int:
    from s3lab import mount

    print(_here(mount.unmount(args.directory)))
    return 0


def _add_unmount(sub: argparse._SubParsersAction) -> None:
    job = _job(
        sub,
        "unmount",
        "unmount a bucket mounted with `s3lab mount`",
        "Unmount the bucket on DIR. If a shell or program is still using the folder, it is\n"
        "unmounted lazily (released when they leave); a stale mount (its program died:\n"
        '"Transport endpoint is not connected") is cleaned.\n\n'
        "example:\n"
        "  s3lab unmount ~/bucket",
    )
    job.add_argument("directory", metavar="DIR")
    job.set_defaults(func=_unmount)


# --- notebooks ----------------------------------------------------------------------------------


def _notebooks_run(args: argparse.Namespace) -> int:
    from s3lab import notebooks

    paths = notebooks.notebooks_in(args.notebooks)
    if args.dry_run:
        for path in paths:
            print(f"would run {path.name} on {args.backend}")
        most = notebooks.most_it_could_cost(len(paths))
        print(f"at most ${most:.2f} on AWS (requests and storage; sandboxes cost nothing)")
        return 0

    def row(result: notebooks.Result) -> None:
        verdict = "ok" if result.ok else "FAILED"
        print(f"{result.notebook}: {verdict} ({result.seconds:.0f} s)", file=sys.stderr, flush=True)

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
    print(f"executed notebooks: {done.out}")
    return 0 if done.ok else 1


def _add_notebooks(sub: argparse._SubParsersAction) -> None:
    job = _job(
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
    run.add_argument("--backend", required=True, help="moto, server, aws or kopah")
    run.add_argument("--profile", help="the AWS profile (aws, kopah); default: the usual chain")
    run.add_argument("--prefix", help="the run's bucket prefix (default: s3lab-run-<random>)")
    run.add_argument("--out", default="notebooks-run", help="where executed notebooks go")
    run.add_argument("--notebooks", metavar="DIR", help="the notebooks (default: the book's)")
    run.add_argument("--dry-run", action="store_true", help="list them and the most it could cost")
    run.set_defaults(func=_notebooks_run)


# --- the parser ---------------------------------------------------------------------------------

_JOBS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_sandbox,
    _add_configure,
    _add_doctor,
    _add_bucket,
    _add_install,
    _add_mount,
    _add_unmount,
    _add_notebooks,
]


def build_parser() -> Parser:
    """The whole command tree; each job adds its own verbs."""
    parser = Parser(
        prog="s3lab",
        formatter_class=_formatter,
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
