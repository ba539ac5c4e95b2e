"""``s3lab`` commands: mount and unmount."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s3lab.cli.common import Parser, add_job, number
from s3lab.errors import UsageError

#: The largest user or group id Linux gives (2**32 - 1 means "no id").
ID_MAX = 2**32 - 2


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
    names += " uid gid allow_other metadata_ttl"
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


def add_mount(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab mount`` job and its verbs to the parser."""
    job = add_job(
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
    job.add_argument(
        "--uid", type=number(int, 0, ID_MAX, "a user id"), help="owner of the files (a number)"
    )
    job.add_argument(
        "--gid", type=number(int, 0, ID_MAX, "a group id"), help="group of the files (a number)"
    )
    job.add_argument(
        "--allow-other",
        action="store_true",
        help="let other users (root and containers included) use the mount; not root: needs "
        "user_allow_other in /etc/fuse.conf",
    )
    job.add_argument(
        "--metadata-ttl",
        type=number(int, 0, 7 * 86400, "seconds; 0 means always ask the bucket"),
        metavar="SECONDS",
        help="how long the tool trusts what it last saw in the bucket: a change made by another "
        "client shows up to this late (Mountpoint: --metadata-ttl; rclone: --dir-cache-time, 1 s "
        "by default here; s3fs: stat_cache_expire)",
    )
    job.add_argument(
        "--persist",
        action="store_true",
        help="mount nothing now: print the /etc/fstab line (Mountpoint, s3fs) or systemd unit "
        "(rclone) that mounts it at every boot",
    )
    job.add_argument(
        "--timeout", type=number(float, 0.1, 3600, "seconds"), default=30.0,
        help="seconds to wait for the mount",
    )  # fmt: skip
    job.set_defaults(func=_mount)


def _unmount(args: argparse.Namespace) -> int:
    from s3lab import mount

    print(_here(mount.unmount(args.directory)))
    return 0


def add_unmount(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab unmount`` job and its verbs to the parser."""
    job = add_job(
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
