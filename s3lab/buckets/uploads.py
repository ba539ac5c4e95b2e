"""The record of big uploads in flight (``$S3LAB_HOME/uploads.json``), so none stays open.

A multipart upload that is never completed or aborted keeps its parts on the server, billed,
and invisible in a listing. :mod:`s3lab.buckets.transfer` records each big upload here before it
starts and forgets it when done; the next run for the same key aborts what a failed or killed
run left (:func:`abort_stale_uploads`). Concurrent commands update the file under a lock
(:func:`s3lab.statefiles.update`), so neither loses the other's records.

Which open uploads are s3lab's is told by the server's own list, not by clocks: the record
keeps the ids of the uploads that were open for the key before s3lab started, and only the
others are aborted. A server's ``Initiated`` date cannot be trusted for this (moto gives every
upload the same date in 2010; a server's clock may be off from this machine's); it is used
only when listing uploads was refused at the start.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import settings, statefiles

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef

logger = logging.getLogger(__name__)


def records_file() -> Path:
    """Where the records are: ``$S3LAB_HOME/uploads.json``."""
    return settings.home() / "uploads.json"


def _load() -> list[dict[str, Any]]:
    records = statefiles.read_json(records_file(), [], kind=list)
    return [r for r in records if isinstance(r, dict)]


def _change(edit: Any) -> None:
    """Apply ``edit`` to the records under a lock: concurrent ``put``s keep each other's."""

    def change(records: list[Any]) -> list[Any]:
        return list(edit([r for r in records if isinstance(r, dict)]))

    statefiles.update(records_file(), change, [], kind=list)


def _mine(record: dict[str, Any], client: S3Client, bucket: str, keys: list[str]) -> bool:
    # Not matched on the endpoint: a restarted sandbox has a new port, the same uploads.
    return record.get("bucket") == bucket and record.get("key") in keys


def record(client: S3Client, bucket: str, keys: list[str]) -> None:
    """Note that big uploads of ``keys`` start now (before the first part is sent).

    The uploads already open for those keys (someone else's, or a run still going) are noted
    too, by id, so that a clean-up leaves them alone.
    """
    started = _dt.datetime.now(_dt.UTC).isoformat()
    endpoint = client.meta.endpoint_url
    open_ids: dict[str, list[str]] = {key: [] for key in keys}
    try:
        for upload in _listed(client, bucket, keys):
            open_ids[upload["Key"]].append(upload["UploadId"])
        listed = True
    except Exception:  # refused, or the server is away: the dates must do (see the module)
        logger.debug("could not list the open uploads of s3://%s; dates will tell", bucket)
        listed = False
    new: list[dict[str, Any]] = []
    for key in keys:
        entry: dict[str, Any] = {"endpoint": endpoint, "bucket": bucket, "key": key}
        entry["started"] = started
        if listed:
            entry["before"] = sorted(open_ids[key])
        new.append(entry)
    _change(lambda records: [r for r in records if not _mine(r, client, bucket, keys)] + new)


def _listed(client: S3Client, bucket: str, keys: list[str]) -> Iterator[MultipartUploadTypeDef]:
    """The uploads open for ``keys`` on the server (errors are the caller's).

    One listing of the keys' common prefix, not one per key: a sync of many big files costs
    one request (or a few pages), not one per file.
    """
    wanted = set(keys)
    prefix = os.path.commonprefix(keys)  # noqa: RUF071 (an S3 prefix is characters)
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        yield from (upload for upload in page.get("Uploads", []) if upload["Key"] in wanted)


def forget(client: S3Client, bucket: str, keys: list[str]) -> None:
    """Drop the records of ``keys``: their uploads finished, or were aborted."""
    if keys:
        _change(lambda records: [r for r in records if not _mine(r, client, bucket, keys)])


def abort_stale_uploads(client: S3Client, bucket: str, keys: list[str]) -> int:
    """Abort the multipart uploads an earlier, failed s3lab run left open for ``keys``.

    Only uploads s3lab recorded (same bucket and key, started since the record) are aborted;
    older ones, and other keys', are left alone. Returns how many were aborted.
    """
    records = [r for r in _load() if _mine(r, client, bucket, keys)]
    # A damaged record has no rule: it is forgotten below, and nobody's upload aborted for it.
    rules = {r["key"]: rule for r in records if (rule := _ours(r)) is not None}
    aborted = 0
    for upload in _listed(client, bucket, list(rules)) if rules else ():
        if rules[upload["Key"]](upload):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            aborted += 1
    if aborted:
        logger.info("aborted %d multipart upload(s) a failed run left open", aborted)
    forget(client, bucket, [r["key"] for r in records])
    return aborted


def _ours(entry: dict[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """How to tell the record's uploads from the rest; None for a damaged record."""
    before = entry.get("before")
    if isinstance(before, list):
        return lambda upload: upload["UploadId"] not in before
    try:
        since = _dt.datetime.fromisoformat(str(entry["started"])) - _dt.timedelta(minutes=1)
    except (KeyError, ValueError):
        return None
    return lambda upload: upload.get("Initiated") is None or upload["Initiated"] >= since


def clean_up(client: S3Client, bucket: str, keys: list[str]) -> None:
    """Abort the uploads a failed run left, if the server answers (else: on the next run).

    Never fails: a copy must not be stopped by a clean-up it cannot do (e.g. no permission to
    list uploads).
    """
    if not keys:
        return
    with contextlib.suppress(Exception):
        abort_stale_uploads(client, bucket, keys)
