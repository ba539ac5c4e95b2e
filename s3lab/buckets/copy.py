"""Copy a bucket from one S3 store to another (AWS to Kopah), streamed through this machine.

No request can copy between two providers: each request goes to one endpoint with one set of
keys. The seed's way is two stages through a local folder (``aws s3 sync`` down, ``s3cmd sync``
up), which needs room for the whole bucket. Here each object is read from the source and written
to the destination as it arrives: small ones in one request, big ones as a multipart upload fed
from the download stream (boto3's ``upload_fileobj``), so only a few chunks are ever in memory.

Resuming is listing both sides: an object already at the destination with the same size and the
same ETag is skipped. Where ETags cannot match (a multipart upload's ETag depends on its part
size), the source's ETag is kept in the copy's metadata (``x-amz-meta-s3lab-source-etag``) and
compared instead. While copying, the bytes' MD5 is checked against a source ETag that is an MD5
(a single-part upload's). :func:`verify` compares count, sizes and those checksums afterwards.

Progress is reported through callbacks (the CLI draws the bar); nothing here prints.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3lab.errors import ServiceError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SOURCE_ETAG = "s3lab-source-etag"
MULTIPART_THRESHOLD = 8 * 1024 * 1024  # the aws command's default
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Entry:
    """One object in a listing: what resume and verification compare."""

    key: str
    size: int
    etag: str


@dataclass
class Copied:
    """What :func:`copy_bucket` did."""

    copied: int = 0
    skipped: int = 0
    bytes: int = 0

    def summary(self) -> str:
        """One line for a person."""
        return f"copied {self.copied} objects ({self.bytes:,} bytes), {self.skipped} already there"


@dataclass
class Verified:
    """What :func:`verify` found: counts, how each object was checked, and what differs."""

    objects: int = 0
    bytes: int = 0
    by_etag: int = 0  # same ETag on both sides (MD5 or the same multipart layout)
    by_metadata: int = 0  # the copy's metadata holds the source's ETag
    extra: int = 0  # objects at the destination that the source does not have
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every source object is at the destination, same size, same checksum."""
        return not self.problems

    def summary(self) -> str:
        """One line for a person."""
        extra = f"; {self.extra} more at the destination only" if self.extra else ""
        return (
            f"verified {self.objects} objects ({self.bytes:,} bytes): {self.by_etag} by ETag, "
            f"{self.by_metadata} by the source ETag kept in metadata, "
            f"{len(self.problems)} differ{extra}"
        )


def listing(client: S3Client, bucket: str, prefix: str = "") -> dict[str, Entry]:
    """Every object under ``prefix``, by key relative to it."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix) :]
            found[key] = Entry(key, int(item["Size"]), item.get("ETag", "").strip('"'))
    return found


def _source_etag(client: S3Client, bucket: str, key: str) -> str:
    head = client.head_object(Bucket=bucket, Key=key)
    return str(head.get("Metadata", {}).get(SOURCE_ETAG, ""))


def same(source: Entry, copy: Entry | None, client: S3Client, bucket: str, key: str) -> str:
    """How ``copy`` is known to hold ``source``'s bytes (``etag``/``metadata``), else ``""``."""
    if copy is None or copy.size != source.size:
        return ""
    if copy.etag and copy.etag == source.etag:
        return "etag"
    if source.etag and _source_etag(client, bucket, key) == source.etag:
        return "metadata"
    return ""


class _Hashing:
    """A read-only stream that computes the MD5 of what passes through it."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.md5 = hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.body.read(size)
        self.md5.update(data)
        return data


def _copy_one(
    source: S3Client,
    src_bucket: str,
    src_key: str,
    entry: Entry,
    dest: S3Client,
    dst_bucket: str,
    dst_key: str,
    on_bytes: Callable[[int], None] | None,
    threshold: int,
) -> None:
    from boto3.s3.transfer import TransferConfig

    answer = source.get_object(Bucket=src_bucket, Key=src_key)
    body = _Hashing(answer["Body"])
    extra: dict[str, Any] = {"Metadata": {SOURCE_ETAG: entry.etag}}
    if answer.get("ContentType"):
        extra["ContentType"] = answer["ContentType"]
    if entry.size < threshold:
        data = body.read()
        dest.put_object(Bucket=dst_bucket, Key=dst_key, Body=data, **extra)
        if on_bytes:
            on_bytes(len(data))
    else:
        config = TransferConfig(
            multipart_threshold=threshold, multipart_chunksize=threshold, max_concurrency=4
        )
        dest.upload_fileobj(
            body,  # type: ignore[arg-type]  # a file-like reader is all boto3 needs
            dst_bucket,
            dst_key,
            ExtraArgs=extra,
            Config=config,
            Callback=on_bytes,
        )
    if _MD5.match(entry.etag) and body.md5.hexdigest() != entry.etag:
        dest.delete_object(Bucket=dst_bucket, Key=dst_key)
        raise ServiceError(
            f"s3://{src_bucket}/{src_key} changed or was damaged while it was copied "
            "(its bytes do not match its ETag)",
            "run the same copy again: it sends only what is missing or different",
        )


def copy_bucket(
    source: S3Client,
    src_bucket: str,
    dest: S3Client,
    dst_bucket: str,
    *,
    src_prefix: str = "",
    dst_prefix: str = "",
    workers: int = 8,
    threshold: int = MULTIPART_THRESHOLD,
    on_plan: Callable[[int, int, int], None] | None = None,
    on_object: Callable[[str, int], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Copied:
    """Copy every object under ``src_prefix`` to ``dst_prefix``; skip what is already there.

    ``on_plan(objects, bytes, skipped)`` is called once the work is known, ``on_object(key,
    size)`` after each object is copied (an exception it raises stops the copy, as an
    interruption would), and ``on_bytes(n)`` as bytes are sent, from worker threads.
    """
    if not 1 <= workers <= 64:  # 0 or less used to be quietly taken as 1
        raise UsageError(f"{workers} workers cannot copy", "give 1 to 64 (the default is 8)")
    wanted = listing(source, src_bucket, src_prefix)
    present = listing(dest, dst_bucket, dst_prefix)
    todo = [
        entry
        for key, entry in sorted(wanted.items())
        if not same(entry, present.get(key), dest, dst_bucket, dst_prefix + key)
    ]
    done = Copied(skipped=len(wanted) - len(todo))
    if on_plan:
        on_plan(len(todo), sum(entry.size for entry in todo), done.skipped)
    pool = ThreadPoolExecutor(workers)
    try:
        pending: set[Future[None]] = set()
        futures: dict[Future[None], Entry] = {}
        for entry in todo:
            future = pool.submit(
                _copy_one,
                source,
                src_bucket,
                src_prefix + entry.key,
                entry,
                dest,
                dst_bucket,
                dst_prefix + entry.key,
                on_bytes,
                threshold,
            )
            futures[future] = entry
            pending.add(future)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # re-raises a worker's failure here
                entry = futures[future]
                done.copied += 1
                done.bytes += entry.size
                if on_object:
                    on_object(entry.key, entry.size)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return done


def verify(
    source: S3Client,
    src_bucket: str,
    dest: S3Client,
    dst_bucket: str,
    *,
    src_prefix: str = "",
    dst_prefix: str = "",
) -> Verified:
    """Compare both sides: every source object present, same size, same checksum."""
    wanted = listing(source, src_bucket, src_prefix)
    present = listing(dest, dst_bucket, dst_prefix)
    result = Verified(extra=len(set(present) - set(wanted)))
    for key, entry in sorted(wanted.items()):
        result.objects += 1
        result.bytes += entry.size
        copy = present.get(key)
        how = same(entry, copy, dest, dst_bucket, dst_prefix + key)
        if how == "etag":
            result.by_etag += 1
        elif how == "metadata":
            result.by_metadata += 1
        elif copy is None:
            result.problems.append(f"missing: {key}")
        elif copy.size != entry.size:
            result.problems.append(f"size differs: {key} ({entry.size} -> {copy.size})")
        else:
            result.problems.append(f"checksum differs: {key}")
    return result


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix); a prefix ends with ``/`` or is empty."""
    from s3lab.buckets import split_url

    bucket, prefix = split_url(url)
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def client(backend: str | None = None, profile: str | None = None) -> S3Client:
    """An S3 client for one side of a copy: a backend (a sandbox, aws, kopah) or a profile.

    Each side names its own: a side with a profile only is ``aws`` through that profile, never
    ``$S3LAB_BACKEND``. A profile's own ``endpoint_url`` is passed explicitly, so a sandbox's
    ``AWS_ENDPOINT_URL`` in the environment cannot send both sides to the same place.

    Raises:
        UsageError: the side names neither a backend nor a profile, or the backend is unknown.
        SandboxError: the sandbox named is not running.
    """
    from s3lab import backends, buckets
    from s3lab.configure import awsfiles

    if backend is None and profile is None:
        raise UsageError(
            "each side of a copy needs a profile or a backend",
            "add --from-profile/--to-profile (or --from-backend/--to-backend)",
        )
    side = backends.resolve(backend or "aws", profile=profile)
    extra: dict[str, Any] = {}
    if profile and side.name in ("aws", "kopah"):
        endpoint = awsfiles.session_for(profile).get_scoped_config().get("endpoint_url")
        if endpoint:
            extra["endpoint_url"] = endpoint
    return buckets.client_for(side, **extra)
