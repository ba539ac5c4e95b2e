"""Copying a bucket between two stores: SeaweedFS (standing in for AWS) to Ceph (for Kopah)."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3lab import buckets
from s3lab.backends import Backend
from s3lab.buckets import copy
from s3lab.errors import UsageError
from tests.support import assert_one_line_error, cli

SMALL = 1000
BIG = 11 * 1024 * 1024  # above the copy's 8 MiB multipart threshold


class Interrupted(Exception):
    """Raised by the progress callback, as Ctrl-C would stop a copy midway."""


def test_a_side_without_profile_or_backend_is_refused():
    with pytest.raises(UsageError):
        copy.client(None, None)
    assert copy.split("s3://bucket/some/prefix") == ("bucket", "some/prefix/")
    result = cli("bucket", "copy", "s3://a-bucket", "s3://b-bucket", "--to-backend", "moto")
    assert_one_line_error(result, "profile or a backend")


@pytest.fixture
def filled(server: Backend, ceph: Backend):
    """A SeaweedFS bucket with 1,000 small objects and one multipart one; an empty Ceph one."""
    from boto3.s3.transfer import TransferConfig

    source, dest = copy.client("server"), copy.client("ceph")
    source.create_bucket(Bucket="copy-source")
    dest.create_bucket(Bucket="copy-target")

    def put(number: int) -> None:
        body = f"object {number}\n".encode() * (1 + number % 7)
        source.put_object(Bucket="copy-source", Key=f"small/{number:04d}.txt", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(SMALL)))
    parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    big = os.urandom(BIG)
    source.upload_fileobj(io.BytesIO(big), "copy-source", "big.bin", Config=parts)
    yield source, dest, big
    buckets.remove_bucket(source, "copy-source", force=True)
    buckets.remove_bucket(dest, "copy-target", force=True)


def test_copy_interrupted_then_resumed_then_verified(filled):
    source, dest, big = filled
    seen: list[str] = []

    def stop_after_300(key: str, size: int) -> None:
        seen.append(key)
        if len(seen) == 300:
            raise Interrupted

    with pytest.raises(Interrupted):
        copy.copy_bucket(source, "copy-source", dest, "copy-target", on_object=stop_after_300)
    there = copy.listing(dest, "copy-target")
    assert 300 <= len(there) < SMALL + 1

    sent: list[int] = []
    done = copy.copy_bucket(source, "copy-source", dest, "copy-target", on_bytes=sent.append)
    assert done.skipped == len(there) and done.copied == SMALL + 1 - len(there)
    assert sum(sent) == done.bytes
    checked = copy.verify(source, "copy-source", dest, "copy-target")
    assert checked.ok, checked.problems
    assert checked.objects == SMALL + 1 and checked.extra == 0
    # The big object's ETags differ (5 MiB parts there, 8 MiB here): its metadata vouches.
    assert checked.by_metadata == 1 and checked.by_etag == SMALL
    assert dest.get_object(Bucket="copy-target", Key="big.bin")["Body"].read() == big

    # A copy damaged behind our back (same size) is found, and the next run sends it again.
    dest.put_object(Bucket="copy-target", Key="small/0005.txt", Body=b"tampered\n" * 6)
    assert copy.verify(source, "copy-source", dest, "copy-target").problems == [
        "checksum differs: small/0005.txt"
    ]
    result = cli(
        "bucket", "copy", "s3://copy-source", "s3://copy-target",
        "--from-backend", "server", "--to-backend", "ceph",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "copied 1 objects" in result.stdout and f"{SMALL} already there" in result.stdout
    assert f"verified {SMALL + 1} objects" in result.stdout and "0 differ" in result.stdout
