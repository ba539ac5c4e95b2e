"""The CRT opens fewer connections to a server on this machine than to one across a network."""

from __future__ import annotations

import pytest

from s3lab.buckets import engines


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
