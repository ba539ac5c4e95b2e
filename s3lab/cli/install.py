"""``s3lab`` commands: install."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from s3lab.cli.common import Parser, add_job


def _install(args: argparse.Namespace) -> int:
    from s3lab import install
    from s3lab.errors import UsageError
    from s3lab.install.download import Progress

    source = Path(args.from_source) if args.from_source else None
    prefix = Path(args.prefix) if args.prefix else None
    link_into = Path(args.link_into) if args.link_into else None
    if args.or_v1:
        if args.tool != "awscli" or prefix is None or link_into is None or args.dry_run:
            raise UsageError(
                "--or-v1 is set-up's way to install the AWS CLI v2",
                "use it as: s3lab install awscli --or-v1 --prefix DIR --link-into DIR",
            )
        return _awscli_for_setup(prefix, link_into, source, args.update)
    install.install(
        args.tool,
        dry_run=args.dry_run,
        method=args.method,
        update=args.update,
        arch=args.arch,
        install_dir=args.install_dir,
        bin_dir=args.bin_dir,
        source=source,
        prefix=prefix,
        link_into=link_into,
        progress=Progress(say=_say, warn=_warn, meter=_byte_bar),
    )
    return 0


def _awscli_for_setup(prefix: Path, link_into: Path, source: Path | None, update: bool) -> int:
    """Set-up's call: quiet when v2 is already in place, the plan and steps when it works."""
    from s3lab import install, settings
    from s3lab.install.download import Progress
    from s3lab.install.machine import probe_aws, show_path

    building = (source or settings.read().awscli_source) is not None

    def say(line: str) -> None:
        # Only a build's steps are shown (it takes a minute); a download that may fail offline
        # stays silent, so that keeping v1 is said in one line, and a second set-up is quiet.
        step = building and line.startswith("[")
        if step or line.startswith(("installed: ", "updated: ")):
            _say(line)

    result = install.awscli_for_setup(
        prefix, link_into, source=source, update=update, progress=Progress(say=say)
    )
    if result.status == "kept v1":
        v1 = probe_aws(link_into / "aws")
        have = f"aws-cli {v1.version} from PyPI" if v1 else "PyPI's awscli"
        _warn(
            f"note: the AWS CLI v1 ({have}) is the `aws` here, not v2 ({result.path}) -- for v2: "
            "S3LAB_AWSCLI_SOURCE=/path/to/awscli-2.X.Y.tar.gz bash tasks.sh setup "
            f"(or rm {show_path(prefix / install.KEPT_V1)} to try the download again)"
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
        "  s3lab install awscli --update     # later: fetch the latest version\n"
        "  s3lab install awscli --from-source awscli-2.36.7.tar.gz --prefix ~/.local/aws-cli-venv\n"
        "                                    # build v2 from its source release (no download)",
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
    job.add_argument(
        "--from-source",
        metavar="FILE",
        help="awscli: build v2 from its source tarball (awscli-2.X.Y.tar.gz, needs --prefix), "
        "or install an installer zip already here (its .sig beside it)",
    )
    job.add_argument(
        "--prefix",
        metavar="DIR",
        help="awscli: v2's own folder (a virtual environment for a tarball)",
    )
    job.add_argument(
        "--link-into", metavar="DIR", help="awscli: also link aws and aws_completer into DIR"
    )
    job.add_argument(
        "--or-v1",
        action="store_true",
        help="set-up: v2 from S3LAB_AWSCLI_SOURCE, --prefix or the download; else keep v1, say so",
    )
    job.set_defaults(func=_install)
