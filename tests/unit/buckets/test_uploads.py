"""Which open uploads a clean-up may abort: the ones s3lab started, told by id where it can."""

from __future__ import annotations

import datetime as dt

from s3lab.buckets import uploads

OLD = dt.datetime(2010, 11, 10, 20, 48, 33, tzinfo=dt.UTC)  # the date moto gives every upload
NOW = dt.datetime.now(dt.UTC)


def test_the_ids_open_before_the_start_decide_not_the_dates() -> None:
    ours = uploads._ours({"key": "k", "started": NOW.isoformat(), "before": ["theirs"]})
    assert ours is not None
    assert ours({"UploadId": "mine", "Initiated": OLD})  # moto's date: still s3lab's
    assert not ours({"UploadId": "theirs", "Initiated": NOW})  # open before: someone else's


def test_a_record_without_ids_falls_back_to_the_dates() -> None:
    """A record written by an older s3lab, or when listing uploads was refused at the start."""
    ours = uploads._ours({"key": "k", "started": NOW.isoformat()})
    assert ours is not None
    assert ours({"UploadId": "new", "Initiated": NOW})
    assert not ours({"UploadId": "old", "Initiated": NOW - dt.timedelta(hours=1)})


def test_a_damaged_record_aborts_nothing() -> None:
    assert uploads._ours({"key": "k", "started": "yesterday"}) is None
    assert uploads._ours({"key": "k"}) is None
