"""Buckets: a client for bulk work, make, list, tags, usage, remove everything, and cleanup.

Creating a bucket needs the region constraint everywhere except us-east-1, where sending it is
an error; :func:`make_bucket` gets that right once for everybody and tags the bucket, so that
:func:`cleanup` can later find what s3lab made and nothing else.

Removing a bucket is where the ``aws`` command is slow and incomplete: ``aws s3 rb --force``
deletes one key per request and leaves object versions behind. :func:`remove_bucket` lists
versions, delete markers and unfinished uploads, deletes them 1,000 keys a request in parallel,
and can be interrupted and run again at any point.

Names are in :mod:`s3lab.buckets.names`, copies (put, get, sync) in
:mod:`s3lab.buckets.transfer`, prices in :mod:`s3lab.buckets.cost`.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3lab import backends, clients
from s3lab.buckets.names import require_valid_name, unique_name
from s3lab.configure.regions import check_region, region_error
from s3lab.errors import AWS_ERRORS, BucketError, UsageError, code_of, reraise

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

logger = logging.getLogger(__name__)

# --- clients -------------------------------------------------------------------------------------

#: Threads for parallel requests. Requests are small and mostly waiting, so more threads than
#: cores pays off; more than the connection pool (:data:`s3lab.clients.BULK_CONNECTIONS`) would
#: only queue.
WORKERS = clients.BULK_CONNECTIONS // 2


def client_for(backend: backends.Backend, *, plain: bool = False, **kwargs: Any) -> S3Client:
    """An S3 client tuned for bulk work on ``backend``: :func:`s3lab.clients.bulk_client`.

    ``plain=True`` makes it with botocore alone: the same requests, without boto3's file
    helpers (``upload_file`` and kin), and without importing boto3 and its transfer engine,
    which a command that only lists or deletes never uses.
    """
    if backend.endpoint_url:
        kwargs.setdefault("endpoint_url", backend.endpoint_url)
    return clients.bulk_client(backend.botocore_session(), helpers=not plain, **kwargs)


# --- make ----------------------------------------------------------------------------------------

#: The tag s3lab puts on every bucket it makes; cleanup removes only buckets that carry it.
MADE_BY = ("made-by", "s3lab")


def default_owner() -> str:
    """Who a new bucket belongs to, when nobody says: the login name, cleaned for a tag."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        user = "unknown"
    return re.sub(r"[^A-Za-z0-9_.:/=+@-]", "-", user)[:64] or "unknown"


def make_bucket(
    client: S3Client,
    name: str,
    region: str | None = None,
    *,
    owner: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Create ``name`` in ``region`` (default: the client's) and tag it; returns the name.

    us-east-1 must not be sent as a LocationConstraint (InvalidLocationConstraint); every other
    region must be (IllegalLocationConstraintException). A bucket you already own is fine; a
    name another account owns is an error whose fix offers a generated name.

    The tags (``made-by=s3lab``, ``owner``, ``created``) are how :func:`cleanup` tells the
    buckets s3lab made from everything else in the account. Existing tags are kept.

    Raises:
        BucketError: another account owns the name (the fix offers a new one).
    """
    from botocore.exceptions import ClientError

    require_valid_name(name)
    if region is not None:
        verdict = check_region(region)  # offline: a typo is caught before any request
        if not verdict.ok:
            raise region_error(verdict)
    region = region or client.meta.region_name or "us-east-1"
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    existed = False
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        code = code_of(exc)
        if code == "BucketAlreadyExists":
            # The table's fix says "generate a name"; here there is one to offer.
            raise BucketError(
                f"the name {name!r} is taken: bucket names are global, and another account "
                "owns this one",
                f"use a generated name, such as {unique_name(name.rsplit('-', 2)[0])}",
            ) from exc
        if code != "BucketAlreadyOwnedByYou":  # already ours: fine, go on to tag it
            reraise(exc, f"creating bucket {name}")
        existed = True
    wanted = {
        MADE_BY[0]: MADE_BY[1],
        "owner": owner or default_owner(),
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(tags or {}),
    }
    current = bucket_tags(client, name)
    if current.get(MADE_BY[0]) == MADE_BY[1]:
        wanted = {**wanted, **current}  # made before: keep its owner and date
    elif current or existed or _made_before(client, name):
        return name  # yours, but not made by s3lab: never claim it (cleanup would remove it)
    else:
        wanted = {**current, **wanted}
    try:
        client.put_bucket_tagging(
            Bucket=name,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(wanted.items())]},
        )
    except ClientError as exc:
        reraise(exc, f"tagging bucket {name}")
    return name


def _made_before(client: S3Client, name: str) -> bool:
    """True when ``name`` is older than a minute: it existed before this ``make``.

    AWS's us-east-1 answers 200 when you create a bucket you already own, so the answer alone
    does not tell a new bucket from an old one; its creation date does.
    """
    for row in list_buckets(client):
        if row["name"] == name and row["created"] is not None:
            age: _dt.timedelta = _dt.datetime.now(_dt.UTC) - row["created"]
            return age > _dt.timedelta(minutes=1)
    return False


def bucket_tags(client: S3Client, name: str) -> dict[str, str]:
    """The bucket's tags as a dict; empty when it has none (S3 answers NoSuchTagSet)."""
    from botocore.exceptions import ClientError

    try:
        tag_set = client.get_bucket_tagging(Bucket=name).get("TagSet", [])
    except ClientError as exc:
        if code_of(exc) in ("NoSuchTagSet", "NoSuchTagSetError", "NotImplemented"):
            return {}
        reraise(exc, f"reading the tags of {name}")
    return {tag["Key"]: tag["Value"] for tag in tag_set}


# --- list ----------------------------------------------------------------------------------------


@dataclass
class ObjectInfo:
    """One object of a listing."""

    key: str
    size: int
    modified: _dt.datetime | None = None


def list_buckets(client: S3Client) -> list[dict[str, Any]]:
    """Your buckets: ``{"name", "created"}`` for each, sorted by name."""
    try:
        buckets = client.list_buckets().get("Buckets", [])
    except Exception as exc:
        reraise(exc, "listing buckets")
    return sorted(
        ({"name": b["Name"], "created": b.get("CreationDate")} for b in buckets),
        key=lambda b: b["name"],
    )


def iter_objects(client: S3Client, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
    """Every object under ``prefix``, page by page (1,000 keys a request, as S3 sends them)."""
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), item.get("LastModified"))
    except Exception as exc:
        reraise(exc, f"listing s3://{bucket}/{prefix}")


@dataclass
class Usage:
    """What a bucket holds: objects (current versions), bytes, and what else blocks deletion."""

    objects: int = 0
    bytes: int = 0
    versions: int = 0  # noncurrent versions and delete markers
    uploads: int = 0  # unfinished multipart uploads


def usage(client: S3Client, bucket: str, prefix: str = "") -> Usage:
    """Count the objects and bytes under ``prefix`` (one listing request per 1,000 objects)."""
    result = Usage()
    for item in iter_objects(client, bucket, prefix):
        result.objects += 1
        result.bytes += item.size
    return result


def bucket_region(client: S3Client, bucket: str) -> str:
    """The bucket's region (GetBucketLocation answers None for us-east-1)."""
    try:
        location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except Exception as exc:
        reraise(exc, f"finding the region of {bucket}")
    return location or "us-east-1"


def human_size(size: float) -> str:
    """Bytes for a person: ``1.5 KiB``, ``3.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` (or a bare bucket name) into ``("bucket", "some/key")``.

    Raises:
        UsageError: ``url`` names no bucket.
    """
    rest = url[5:] if url.startswith("s3://") else url
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise UsageError(f"no bucket in {url!r}", "write it as s3://BUCKET/KEY")
    return bucket, key


# --- remove --------------------------------------------------------------------------------------

#: DeleteObjects takes at most 1,000 keys a request.
BATCH = 1000

_RUN_AGAIN = "run the same command again: every request is idempotent, so it finishes the job"


@dataclass
class Removal:
    """What :func:`empty_bucket` / :func:`remove_bucket` deleted (or would, in a dry run)."""

    bucket: str
    objects: int = 0  # keys (or versions, and delete markers) deleted
    bytes: int = 0
    markers: int = 0  # of which delete markers
    uploads: int = 0  # unfinished multipart uploads aborted
    requests: int = 0  # DeleteObjects requests
    removed: bool = False  # the bucket itself is gone
    dry_run: bool = False

    def summary(self) -> str:
        """What went (or would go), in words: ``3 objects (22 B) ..., 1 unfinished upload``."""
        text = f"{_count(self.objects, 'object')} ({human_size(self.bytes)})"
        if self.markers:
            text += f" among them {_count(self.markers, 'delete marker')}"
        return f"{text}, {_count(self.uploads, 'unfinished upload')}"


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _versioned(client: S3Client, bucket: str) -> bool:
    """Whether versioning was ever turned on (then old versions and delete markers may hide)."""
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as exc:
        if code_of(exc) in ("NotImplemented", "NotImplementedError"):
            return False
        raise
    return status in ("Enabled", "Suspended")


def _batches(
    client: S3Client, bucket: str, versioned: bool, removal: Removal
) -> Iterator[list[ObjectIdentifierTypeDef]]:
    """Lists of up to 1,000 ``{"Key", "VersionId"}`` to delete, one page at a time."""
    if versioned:
        pages = client.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": BATCH}
        )
        for page in pages:
            batch: list[ObjectIdentifierTypeDef] = []
            for version in page.get("Versions", []):
                batch.append({"Key": version["Key"], "VersionId": version["VersionId"]})
                removal.bytes += int(version.get("Size", 0))
            for marker in page.get("DeleteMarkers", []):
                batch.append({"Key": marker["Key"], "VersionId": marker["VersionId"]})
                removal.markers += 1
            for start in range(0, len(batch), BATCH):
                yield batch[start : start + BATCH]
    else:
        listed = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": BATCH}
        )
        for listing in listed:
            contents = listing.get("Contents", [])
            removal.bytes += sum(int(item["Size"]) for item in contents)
            if contents:
                yield [{"Key": item["Key"]} for item in contents]


#: A hook for tests: called before every DeleteObjects request with its keys. Raising from it
#: simulates an interruption (Ctrl-C, a lost connection) half-way through a removal.
before_batch: Callable[[list[ObjectIdentifierTypeDef]], None] | None = None


def _delete_batch(client: S3Client, bucket: str, batch: list[ObjectIdentifierTypeDef]) -> int:
    if before_batch is not None:
        before_batch(batch)
    response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
    if errors:
        first = errors[0]
        code = str(first.get("Code") or "")
        kind, fix = AWS_ERRORS.get(code) or (BucketError, _RUN_AGAIN)
        raise kind(
            f"could not delete {len(errors)} objects of {bucket} (this needs s3:DeleteObject "
            f"and s3:DeleteObjectVersion), e.g. {first.get('Key')}: "
            f"{code} {first.get('Message', '')}".strip(),
            fix,
        )
    return len(batch)


def empty_bucket(
    client: S3Client, bucket: str, *, dry_run: bool = False, workers: int = WORKERS
) -> Removal:
    """Delete everything in ``bucket``: objects, versions, delete markers, unfinished uploads.

    Listing goes on while earlier pages are deleted by ``workers`` threads, 1,000 keys a
    request. Every request is idempotent, so an interrupted run is finished by running it again.
    """
    from botocore.exceptions import ClientError

    removal = Removal(bucket, dry_run=dry_run)
    try:
        uploads = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for page in uploads:
            for upload in page.get("Uploads", []):
                removal.uploads += 1
                if not dry_run:
                    try:
                        client.abort_multipart_upload(
                            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    except ClientError as exc:
                        if code_of(exc) != "NoSuchUpload":  # already gone: fine
                            raise
        versioned = _versioned(client, bucket)
        if dry_run:
            for batch in _batches(client, bucket, versioned, removal):
                removal.objects += len(batch)
            return removal
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[int]] = set()
            try:
                for batch in _batches(client, bucket, versioned, removal):
                    pending.add(pool.submit(_delete_batch, client, bucket, batch))
                    removal.requests += 1
                    # Collect finished requests as we go: a failure stops the listing early, and
                    # a huge bucket never has more than a few pages in memory.
                    block = len(pending) >= workers * 2
                    done, pending = wait(pending, 0 if not block else None, FIRST_COMPLETED)
                    removal.objects += sum(future.result() for future in done)
                done, pending = wait(pending)
                removal.objects += sum(future.result() for future in done)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    except ClientError as exc:
        reraise(exc, f"emptying bucket {bucket}")
    return removal


def remove_bucket(
    client: S3Client, bucket: str, *, force: bool = False, dry_run: bool = False
) -> Removal:
    """Remove ``bucket``; with ``force``, first everything in it (see :func:`empty_bucket`).

    Without ``force`` a bucket that holds objects is refused with how many and how big, before
    anything is deleted.

    Raises:
        BucketError: the bucket is not empty and ``force`` is not set.
    """
    from botocore.exceptions import ClientError

    if not force:
        held = usage(client, bucket)
        if held.objects:
            raise BucketError(
                f"bucket {bucket} is not empty: it holds {held.objects} objects "
                f"({human_size(held.bytes)}, {held.bytes} bytes)",
                f"delete them all with `s3lab bucket remove {bucket} --force` (no undo)",
            )
        removal = Removal(bucket, dry_run=dry_run)
    else:
        removal = empty_bucket(client, bucket, dry_run=dry_run)
    if dry_run:
        return removal
    try:
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if code_of(exc) == "BucketNotEmpty" and not force:
            kind, fix = AWS_ERRORS["BucketNotEmpty"]
            raise kind(
                f"bucket {bucket} still holds old object versions or delete markers",
                fix.replace("NAME", bucket),
            ) from exc
        reraise(exc, f"removing bucket {bucket}")
    removal.removed = True
    return removal


# --- classroom cleanup ---------------------------------------------------------------------------


def parse_age(text: str) -> _dt.timedelta:
    """``90m``, ``12h``, ``1d``, ``2w`` into a timedelta; longer than S3 has existed: refused.

    Raises:
        UsageError: ``text`` is not an age such as 90m, 12h, 1d or 2w, or is older than S3.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text)
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]] if match else ""
    if not match or float(match[1]) > {"minutes": 6e8, "hours": 1e7, "days": 4e5}.get(unit, 6e4):
        # Not a number and a unit; or an age older than S3 (2006), which would select nothing.
        what = "no bucket can be older than" if match else "cannot read the age"
        raise UsageError(f"{what} {text!r}", "write it like 90m, 12h, 1d or 2w")
    return _dt.timedelta(**{unit: float(match[1])})


@dataclass
class Candidate:
    """A bucket cleanup would remove, and why."""

    name: str
    owner: str
    created: _dt.datetime | None


def _created(tags: dict[str, str], fallback: Any) -> _dt.datetime | None:
    text = tags.get("created")
    if text:
        try:
            moment = _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
            return moment.replace(tzinfo=_dt.UTC)
        except ValueError:
            pass
    return fallback if isinstance(fallback, _dt.datetime) else None


def cleanup_candidates(
    client: S3Client, *, owner: str | None = None, older_than: str | None = None
) -> list[Candidate]:
    """Buckets tagged ``made-by=s3lab`` (and ``owner``, and older than ``older_than``).

    A bucket without s3lab's tag is never a candidate, whatever its name.
    """
    cutoff = None
    if older_than is not None:  # "" is a mistake, not "any age"
        cutoff = _dt.datetime.now(_dt.UTC) - parse_age(older_than)
    found = []
    for bucket in list_buckets(client):
        tags = bucket_tags(client, bucket["name"])
        if tags.get(MADE_BY[0]) != MADE_BY[1]:
            continue
        if owner is not None and tags.get("owner") != owner:
            continue
        created = _created(tags, bucket["created"])
        if cutoff is not None and (created is None or created > cutoff):
            continue
        found.append(Candidate(bucket["name"], tags.get("owner", ""), created))
    return found


def cleanup(
    client: S3Client,
    *,
    owner: str | None = None,
    older_than: str | None = None,
    dry_run: bool = False,
    report: Callable[[str], None] | None = None,
) -> list[Removal]:
    """Remove, with everything in them, the buckets s3lab made (filtered by owner and age).

    ``report`` is called with one line per bucket, as it is removed (the command prints them);
    without it the lines go to the log.

    Raises:
        UsageError: neither ``owner`` nor ``older_than`` says which buckets.
    """
    report = report or logger.info
    if owner is None and older_than is None:
        raise UsageError(
            "cleanup needs --owner NAME or --older-than AGE",
            "say whose buckets, or how old: s3lab bucket cleanup --made-by-s3lab --older-than 1d",
        )
    candidates = cleanup_candidates(client, owner=owner, older_than=older_than)
    removed = []
    for candidate in candidates:
        when = candidate.created.strftime("%Y-%m-%d %H:%M") if candidate.created else "?"
        report(
            f"{'would remove' if dry_run else 'removing'}: {candidate.name} "
            f"(owner {candidate.owner}, made {when})"
        )
        removed.append(remove_bucket(client, candidate.name, force=True, dry_run=dry_run))
    if not candidates:
        report("no bucket made by s3lab matches")
    return removed
