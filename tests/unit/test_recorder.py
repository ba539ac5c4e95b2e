"""The policy test's recording proxy passes requests on unchanged and keeps what it promises.

If it changed a body or a header, SeaweedFS would refuse the signature and the policy run would
fail for the proxy's sake; if it kept nothing, the policy checks would pass on an empty list.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.recorder import KEPT_BODY, Recorder


class Echo(BaseHTTPRequestHandler):
    """Answers with what arrived: the body it read, and the headers that matter here."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("X-Host", self.headers.get("Host", ""))
        self.send_header("X-Signed", self.headers.get("Authorization", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _answer


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _send(url: str, method: str, path: str, body: Any, **headers: str) -> http.client.HTTPResponse:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    return conn.getresponse()


def test_bodies_and_signed_headers_arrive_unchanged_and_small_bodies_are_kept(
    upstream: str,
) -> None:
    big = bytes(range(256)) * (KEPT_BODY // 128)  # twice the kept size, not text
    with Recorder(upstream) as proxy:
        put = _send(proxy.url, "PUT", "/b/k", big, Host="s3.example", Authorization="AWS4 x")
        assert put.read() == big
        assert put.getheader("X-Host") == "s3.example"  # the client signed this Host
        assert put.getheader("X-Signed") == "AWS4 x"
        post = _send(proxy.url, "POST", "/b?delete", b"<Key>a.txt</Key>")
        assert post.read() == b"<Key>a.txt</Key>"
        chunks = iter([b"one ", b"two"])  # a generator body: http.client sends it chunked
        chunked = _send(proxy.url, "PUT", "/b/c", chunks)
        assert chunked.read() == b"one two"
        assert _send(proxy.url, "HEAD", "/b/k", None).read() == b""
    first, second, third, head = proxy.entries
    assert first["method"] == "PUT" and first["url"] == "http://s3.example/b/k"
    assert "body" not in first  # too big to keep
    assert second["body"] == "<Key>a.txt</Key>"
    assert third["headers"]["Transfer-Encoding"] == "chunked"
    assert head["method"] == "HEAD"


def test_it_fronts_only_a_local_http_server() -> None:
    with pytest.raises(ValueError, match="only a local http"):
        Recorder("https://s3.amazonaws.com")
