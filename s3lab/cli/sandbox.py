"""``s3lab`` commands: sandbox."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from s3lab import sandbox
from s3lab.cli.common import Parser, add_backend, add_job, number
from s3lab.errors import UsageError


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


def add_sandbox(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab sandbox`` job and its verbs to the parser."""
    job = add_job(
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
    add_backend(start, None, choices=choices, default="moto")
    start.add_argument(
        "--port", type=number(int, 1, 65535, "a TCP port"), help="S3 port (default: a free one)"
    )
    start.add_argument(
        "--timeout", type=number(float, 0.1, 3600, "seconds"), default=90.0,
        help="seconds to wait for it",
    )  # fmt: skip
    start.set_defaults(func=_sandbox_start)

    stop = verbs.add_parser("stop", help="stop a sandbox (data of `server` is kept)")
    add_backend(stop, None, choices=choices, default="all")
    stop.set_defaults(func=_sandbox_stop)

    status = verbs.add_parser("status", help="running, stale or stopped; exit 0 only if running")
    add_backend(status, None, choices=choices, default="all")
    status.set_defaults(func=_sandbox_status)

    env = verbs.add_parser("env", help='print export lines: eval "$(s3lab sandbox env)"')
    add_backend(env, "default: the one running", choices=sandbox.KINDS)
    env.set_defaults(func=_sandbox_env)

    run = verbs.add_parser("run", help="start, run one command with the sandbox's variables, stop")
    add_backend(run, None, choices=choices, default="moto")
    run.add_argument("--keep", action="store_true", help="leave the sandbox running after")
    run.add_argument(
        "--timeout", type=number(float, 0.1, 3600, "seconds"), default=90.0,
        help="seconds to wait for start",
    )  # fmt: skip
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=_sandbox_run)
