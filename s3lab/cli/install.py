"""``s3lab`` commands: install."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator

from s3lab.cli.common import Parser, add_job


def _install(args: argparse.Namespace) -> int:
    from s3lab import install
    from s3lab.install.download import Progress

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


def add_install(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab install`` job and its verbs to the parser."""
    from s3lab import install

    job = add_job(
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
