"""The big object's runs each start from the same state, and the table says how."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench import big, report


def test_a_quick_run_only_flushes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(big, "PAGE_REPORTING", tmp_path)  # as on a VM that hands memory back
    start = time.monotonic()
    assert big.settle(quick=True) == 0.0
    assert time.monotonic() - start < big.SETTLE_S / 2


def test_a_full_run_waits_only_where_memory_goes_back_to_a_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(big.time, "sleep", slept.append)
    monkeypatch.setattr(big, "PAGE_REPORTING", tmp_path / "absent")  # a laptop, a Nitro VM
    assert big.settle(quick=False) == 0.0 and slept == []
    monkeypatch.setattr(big, "PAGE_REPORTING", tmp_path)
    assert big.settle(quick=False) == big.SETTLE_S and slept == [big.SETTLE_S]


def test_the_table_says_how_the_runs_started() -> None:
    assert report._settled(0) == "."
    said = report._settled(6.0)
    assert said.startswith("; each started 6 s after the one before") and said.endswith(".")
