"""The big object's runs each start from the same state, and the table says how."""

from __future__ import annotations

import time

import pytest

from bench import big, report
from s3lab.buckets import engines


def test_a_quick_run_only_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "page_cache_is_slow", lambda: True)  # a VM that hands it back
    start = time.monotonic()
    assert big.settle(quick=True) == 0.0
    assert time.monotonic() - start < big.SETTLE_S / 2


def test_a_full_run_waits_only_where_memory_goes_back_to_a_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(big.time, "sleep", slept.append)
    monkeypatch.setattr(engines, "page_cache_is_slow", lambda: False)  # a laptop, a Nitro VM
    assert big.settle(quick=False) == 0.0 and slept == []
    monkeypatch.setattr(engines, "page_cache_is_slow", lambda: True)
    assert big.settle(quick=False) == big.SETTLE_S and slept == [big.SETTLE_S]


def test_the_table_says_how_the_runs_started() -> None:
    assert report._settled(0) == "."
    said = report._settled(6.0)
    assert said.startswith("; each started 6 s after the one before") and said.endswith(".")
