"""The record of big uploads in flight (``$S3LAB_HOME/uploads.json``), so none stays open.

A multipart upload that is never completed or aborted keeps its parts on the server, billed,
and invisible in a listing. :mod:`s3lab.buckets.transfer` records each big upload here before it
starts and forgets it when done; the next run for the same key aborts what a failed or killed
run left (:func:`abort_stale_uploads`). Concurrent commands update the file under a lock
(:func:`s3lab.statefiles.update`), so neither loses the other's records.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import settings, statefiles

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


def records_file() -> Path:
    """Where the records are: ``$S3LAB_HOME/uploads.json``."""
    return settings.home() / "uploads.json"


def _load() -> list[dict[str, str]]:
    records = statefiles.read_json(records_file(), [], kind=list)
    return [r for r in records if isinstance(r, dict)]


def _change(edit: Any) -> None:
    """Apply ``edit`` to the records under a lock: concurrent ``put``s keep each other's."""

    def change(records: list[Any]) -> list[Any]:
        return list(edit([r for r in records if isinstance(r, dict)]))

    statefiles.update(records_file(), change, [], kind=list)


def _mine(record: dict[str, str], client: S3Client, bucket: str, keys: list[str]) -> bool:
    # Not matched on the endpoint: a restarted sandbox has a new port, the same uploads.
    return record.get("bucket") == bucket and record.get("key") in keys


def record(client: S3Client, bucket: str, keys: list[str]) -> None:
    """Note that big uploads of ``keys`` start now (before the first part is sent)."""
    started = _dt.datetime.now(_dt.UTC).isoformat()
    endpoint = client.meta.endpoint_url
    new = [{"endpoint": endpoint, "bucket": bucket, "key": k, "started": started} for k in keys]
    _change(lambda records: [r for r in records if not _mine(r, client, bucket, keys)] + new)


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
    aborted = 0
    for entry in records:
        try:
            since = _dt.datetime.fromisoformat(str(entry["started"])) - _dt.timedelta(minutes=1)
        except (KeyError, ValueError):
            continue  # a damaged record: forgotten below, and nobody's upload aborted for it
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=entry["key"]
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                initiated = upload.get("Initiated")
                if upload["Key"] == entry["key"] and (initiated is None or initiated >= since):
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
    if aborted:
        logger.info("aborted %d multipart upload(s) a failed run left open", aborted)
    forget(client, bucket, [r["key"] for r in records])
    return aborted


def clean_up(client: S3Client, bucket: str, keys: list[str]) -> None:
    """Abort the uploads a failed run left, if the server answers (else: on the next run).

    Never fails: a copy must not be stopped by a clean-up it cannot do (e.g. no permission to
    list uploads).
    """
    if not keys:
        return
    with contextlib.suppress(Exception):
        abort_stale_uploads(client, bucket, keys)
