"""How the CRT is set up: fewer connections to a server on this machine than to one across a
network, and downloads past the page cache where the page cache is slow to fill."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3lab import settings
from s3lab.buckets import engines
from s3lab.errors import UsageError


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:9000", "http://localhost:8333", "http://[::1]:9000", "http://127.0.0.2"],
)
def test_a_loopback_server_gets_the_local_target(endpoint: str) -> None:
    assert engines.target_throughput(endpoint) == engines.LOCAL_TARGET_THROUGHPUT


@pytest.mark.parametrize(
    "endpoint",
    ["https://s3.us-west-2.amazonaws.com", "https://s3.kopah.uw.edu", "http://10.0.0.5:7480",
     "http://127.example.org"],
)  # fmt: skip
def test_any_other_server_keeps_the_crt_default(endpoint: str) -> None:
    assert engines.target_throughput(endpoint) is None


# --- downloads past the page cache ---------------------------------------------------------------


def _virtio(root: Path, name: str, device: str, features: str, *, bound: bool = True) -> None:
    """A device as Linux lists it under /sys/bus/virtio/devices (features: one digit a bit)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "device").write_text(device + "\n")
    (folder / "features").write_text(features.ljust(64, "0") + "\n")
    if bound:
        (folder / "driver").mkdir()


def test_a_balloon_that_reports_free_pages_makes_the_page_cache_slow(tmp_path: Path) -> None:
    _virtio(tmp_path, "virtio0", "0x0001", "11000101")  # a network card: bit 5 means else
    assert not engines.page_cache_is_slow(tmp_path)
    _virtio(tmp_path, "virtio1", "0x0005", "01100101")  # as on the speed page's machine
    assert engines.page_cache_is_slow(tmp_path)


@pytest.mark.parametrize(
    ("features", "bound"),
    [("01100001", True), ("01100101", False), ("", True)],
    ids=["no-reporting", "no-driver", "no-features"],
)
def test_a_balloon_that_does_not_report_keeps_the_page_cache(
    tmp_path: Path, features: str, bound: bool
) -> None:
    _virtio(tmp_path, "virtio0", "0x0005", features, bound=bound)
    assert not engines.page_cache_is_slow(tmp_path)


def test_no_virtio_devices_at_all_keeps_the_page_cache(tmp_path: Path) -> None:
    assert not engines.page_cache_is_slow(tmp_path / "missing")


@pytest.mark.parametrize("slow", [True, False])
def test_the_setting_decides_and_auto_asks_the_machine(
    monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    monkeypatch.setattr(engines, "page_cache_is_slow", lambda: slow)
    assert engines.direct_io("auto") is slow
    assert engines.direct_io("on") and not engines.direct_io("off")
    monkeypatch.delenv("S3LAB_DIRECT_IO", raising=False)
    assert engines.direct_io() is slow
    monkeypatch.setenv("S3LAB_DIRECT_IO", " OFF ")
    assert engines.direct_io() is False


def test_a_word_that_is_no_choice_is_refused_with_the_choices() -> None:
    with pytest.raises(UsageError, match="'maybe' is not one of auto, on, off"):
        settings.read({"S3LAB_DIRECT_IO": "maybe"})
    assert settings.read({}).direct_io == "auto"
