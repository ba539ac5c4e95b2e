"""``s3lab classroom``: a class on the SeaweedFS sandbox, a key per learner."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from s3lab import backends, buckets, classroom
from s3lab.classroom import hub
from s3lab.cli.common import Parser, add_job
from s3lab.errors import UsageError


def _start(args: argparse.Namespace) -> int:
    if (args.learners is None) == (args.roster is None):
        raise UsageError("say who is in the class", "give --learners N or --roster FILE, not both")
    roster = (
        classroom.read_roster(args.roster) if args.roster else classroom.numbered(args.learners)
    )
    if args.hub:
        hub.require_root()  # before anything starts
        hub.proxy()
        admin = classroom.check_name(args.hub_admin)
        if admin in roster:
            raise UsageError(
                f"the hub's admin {admin!r} is also on the roster",
                "give the instructor a name of their own with --hub-admin",
            )
    elif args.install_profiles:
        classroom.require_root()  # before anything starts
    print(
        f"starting a class of {len(roster)} on the server sandbox...", file=sys.stderr, flush=True
    )
    room = classroom.start(roster, host=args.host)
    if args.hub:
        return _start_hub(room, admin, args.hub_port)
    installed = classroom.install_profiles() if args.install_profiles else {}
    folder = classroom.class_dir() / "profiles"
    print(f"class served at {room.endpoint_url}; profile snippets in {folder}/ (secret: 0600)")
    print(f"{'learner':{classroom.MAX_NAME}}  {'profile':16}  where")
    for name in room.names():
        where = installed.get(name) or f"{name}/config and {name}/credentials"
        print(f"{name:{classroom.MAX_NAME}}  {backends.CLASS_PROFILE:16}  {where}")
    print(f"{'(instructor)':{classroom.MAX_NAME}}  {classroom.INSTRUCTOR_PROFILE:16}  instructor/")
    print(
        "learners: add the snippet to ~/.aws, then  export S3LAB_BACKEND=class  and run the book",
        file=sys.stderr,
    )
    return 0


def _start_hub(room: classroom.Classroom, admin: str, port: int | None) -> int:
    print("setting up the hub: users, profiles, notebooks...", file=sys.stderr, flush=True)
    served = classroom.start_hub(room, admin=admin, port=port)
    folder = hub.hub_dir(classroom.class_dir())
    print(f"class served at {room.endpoint_url}; hub at {served.url}")
    print(f"{'learner':{classroom.MAX_NAME}}  {'linux user':10}  where")
    for name in [*room.names(), admin]:
        made = "made" if name in served.made_users else "existing"
        where = (
            "admin: the hub's admin page and the console"
            if name == admin
            else (f"~{name}/{hub.NOTEBOOKS}, ~{name}/.aws (profile {backends.CLASS_PROFILE})")
        )
        print(f"{name:{classroom.MAX_NAME}}  {made:10}  {where}")
    print(f"passwords: {folder}/passwords.txt (only root may read it): hand out each line")
    print(f"admin page: {served.admin_url}")
    print(f"console:    {served.console_url}")
    print(f"note: {hub.HTTPS_NOTE}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    seats = classroom.status()
    if args.json:
        print(json.dumps([asdict(seat) for seat in seats], indent=2))
        return 0
    row = "{:20}  {:>7}  {:>7}  {:>9}  {}"
    print(row.format("learner", "buckets", "objects", "bytes", "last activity"))
    for seat in seats:
        size = buckets.human_size(seat.bytes)
        when = seat.last_activity or "-"
        print(row.format(seat.learner, seat.buckets, seat.objects, size, when))
    return 0


def _check(args: argparse.Namespace) -> int:
    results = classroom.check(args.exercise)
    for found in results:
        state = "done" if found.done else "not yet"
        print(f"{found.learner or '':{classroom.MAX_NAME}}  {state:8}  {found.message}")
    finished = sum(found.done for found in results)
    print(f"{args.exercise}: {finished} of {len(results)} learners done")
    return 0


def _stop(args: argparse.Namespace) -> int:
    room = classroom.stop()
    print(f"class stopped: {len(room.learners)} learner keys refused from now on")
    if hub.load(classroom.class_dir()):
        print("hub stopped: the learners' servers, the proxy and the console ended")
    print("next: `s3lab classroom cleanup` removes the class's buckets and keys", file=sys.stderr)
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    done = classroom.cleanup(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for name in done.buckets:
        print(f"{verb} bucket {name}")
    print(
        f"{verb} {len(done.buckets)} class buckets, {done.identities} keys "
        f"and {done.profiles} installed profiles; nothing else was touched"
    )
    if done.users:
        made = ", ".join(done.users)
        print(f"{verb} the hub and the {len(done.users)} Linux users it made: {made}")
    return 0


def add_classroom(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab classroom`` job and its verbs to the parser."""
    job = add_job(
        sub,
        "classroom",
        "a class on one SeaweedFS sandbox: a key per learner, an instructor's console",
        "Serve a class from the server sandbox (SeaweedFS). Each learner gets a key that may only\n"
        "touch buckets whose names start with their name; the instructor's key may do anything.\n\n"
        "example:\n"
        "  s3lab classroom start --roster names.txt     # one name a line\n"
        "  sudo s3lab classroom start --roster names.txt --hub   # and a JupyterHub\n"
        "  s3lab classroom status\n"
        "  s3lab classroom check buckets-cli\n"
        "  s3lab classroom stop && s3lab classroom cleanup",
    )
    verbs = job.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    start = verbs.add_parser("start", help="a key and a profile snippet per learner")
    start.add_argument("--learners", type=int, metavar="N", help="learner01 ... learnerN")
    start.add_argument("--roster", metavar="FILE", help="one learner name a line")
    start.add_argument(
        "--host",
        metavar="ADDR",
        help="the address learners reach this machine at (default 127.0.0.1: this machine only)",
    )
    start.add_argument(
        "--install-profiles",
        action="store_true",
        help="as root: put each profile into the ~/.aws of the Linux user of that name",
    )
    start.add_argument(
        "--hub",
        action="store_true",
        help="as root: also a JupyterHub for the class (a Linux user, a password and a server "
        "each; the admin page and a class console for you)",
    )
    start.add_argument(
        "--hub-admin",
        metavar="NAME",
        default="teacher",
        help="with --hub: the instructor's hub user, the hub's admin (default teacher)",
    )
    start.add_argument(
        "--hub-port", type=int, metavar="PORT", help="with --hub: the hub's port (default: free)"
    )
    start.set_defaults(func=_start)
    status = verbs.add_parser("status", help="per learner: buckets, objects, bytes, last activity")
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(func=_status)
    check = verbs.add_parser("check", help="run an exercise's self-check for every learner")
    check.add_argument("exercise", help="the exercise's name, as `s3lab check` takes it")
    check.set_defaults(func=_check)
    verbs.add_parser("stop", help="refuse the learners' keys from now on").set_defaults(func=_stop)
    cleanup = verbs.add_parser("cleanup", help="remove the class's buckets and keys, only those")
    cleanup.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    cleanup.set_defaults(func=_cleanup)
