"""``s3lab`` commands: bucket."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from s3lab.cli.common import Parser, add_backend, add_job, formatter, number, resolved
from s3lab.errors import S3LabError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _bucket_client(args: argparse.Namespace, **kwargs: object) -> S3Client:
    from s3lab import buckets

    # botocore alone: no verb here needs boto3's helpers, and importing them costs start-up.
    return buckets.client_for(resolved(args), plain=True, **kwargs)


def _bucket_name(args: argparse.Namespace) -> int:
    from s3lab.buckets import names

    for _ in range(args.count):
        print(names.unique_name(args.prefix, book_start=not args.no_s3lab_start))
    return 0


def _bucket_validate(args: argparse.Namespace) -> int:
    from s3lab.buckets import names

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


def _copied(run: Callable[[], object], report: Callable[[object], None]) -> int:
    """Run a copy and report what it did, also when it skipped some items.

    Then the error goes on: main() prints a warning line for each item, and the count.
    """
    from s3lab.errors import PartialError

    try:
        plan = run()
    except PartialError as exc:
        report(exc.plan)
        raise
    report(plan)
    return 0


def _bucket_put(args: argparse.Namespace) -> int:
    from s3lab.buckets import transfer

    def report(plan: Any) -> None:
        _print_plan(plan, False) if args.verbose else print(f"uploaded {len(plan.pairs)} files")

    client = _bucket_client(args)
    return _copied(lambda: transfer.put(client, args.source, args.url, quiet=args.quiet), report)


def _bucket_get(args: argparse.Namespace) -> int:
    from s3lab.buckets import transfer

    def report(plan: Any) -> None:
        if args.verbose:
            _print_plan(plan, False)
        else:
            print(f"downloaded {len(plan.pairs)} files")

    client = _bucket_client(args)
    return _copied(lambda: transfer.get(client, args.url, args.target, quiet=args.quiet), report)


def _bucket_sync(args: argparse.Namespace) -> int:
    from s3lab.buckets import transfer

    client = _bucket_client(args)
    return _copied(
        lambda: transfer.sync(
            client, args.source, args.target, dry_run=args.dry_run, quiet=args.quiet
        ),
        lambda plan: _print_plan(plan, args.dry_run),
    )


def _bucket_copy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from s3lab.buckets import copy

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
    from s3lab import buckets
    from s3lab.buckets import cost

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
    if args.older_than is not None:
        buckets.parse_age(args.older_than)  # a bad age is refused before any client is made
    buckets.cleanup(
        _bucket_client(args),
        owner=args.owner,
        older_than=args.older_than,
        dry_run=args.dry_run,
        report=print,
    )
    return 0


def add_bucket(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``s3lab bucket`` job and its verbs to the parser."""
    job = add_job(
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
    add_backend(common)
    common.add_argument("--profile", help="AWS profile, for --backend aws or kopah")
    copying = Parser(add_help=False)
    copying.add_argument("--quiet", action="store_true", help="no progress bar")
    copying.add_argument("--verbose", action="store_true", help="one line per file")

    def verb(name: str, help_: str, example: str, *parents: Parser) -> Parser:
        return verbs.add_parser(
            name,
            help=help_,
            description=f"{help_[0].upper()}{help_[1:]}.\n\nexample:\n  {example}",
            formatter_class=formatter,
            parents=list(parents),
        )

    name = verb(
        "name", "print a new, valid, unique bucket name", "s3lab bucket name --prefix my-lab"
    )
    name.add_argument("--prefix", default="s3lab", help="readable start (cleaned to be valid)")
    name.add_argument(
        "--count",
        type=number(int, 1, 1_000_000, "how many names"),
        default=1,
        help="how many names",
    )
    name.add_argument(
        "--no-s3lab-start",
        action="store_true",
        help="leave out the s3lab- start (the book's IAM policy allows only s3lab-* buckets)",
    )
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
    copying_between.add_argument(
        "--workers", type=number(int, 1, 64, "objects copied at a time"), default=8,
        help="objects at a time",
    )  # fmt: skip
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
    get.epilog = (
        "On a VM that hands the memory it frees back to its host, the file is written past\n"
        "the page cache, which is three times faster there. S3LAB_DIRECT_IO=on or off\n"
        "chooses (default: auto)."
    )
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
