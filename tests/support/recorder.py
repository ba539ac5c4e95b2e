"""A recording reverse proxy: every request a run sends, seen on its way to a real S3 server.

The policy test needs two things from one run of the book: that it passes on a server which
refuses what the policy does not allow (SeaweedFS, scoped to the role), and the list of every
request it made, to check each one's IAM action and ARN. moto can record, but does not enforce;
SeaweedFS enforces, but does not record. Putting this proxy in front of SeaweedFS gives both
from one run (the book used to be run twice for it, once on each server: the suite's longest
two jobs).

It passes each request on unchanged, ``Host`` header included (the client signed it), and
keeps what moto's recorder keeps: method, URL, headers, and the body of a small POST (a
DeleteObjects' keys, an STS call's action). Only for servers started by the test, on 127.0.0.1.
"""

from __future__ import annotations

import base64
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

#: Headers about one hop's connection, not the request: never passed on.
HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",  # answered here: BaseHTTPRequestHandler sends the 100 Continue itself
}
KEPT_BODY = 64 * 1024  # a DeleteObjects of 1,000 keys is about 50 KiB
PIECE = 1024 * 1024


class Recorder:
    """A proxy on 127.0.0.1 in front of ``upstream`` that records every request's entry."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http" or target.hostname != "127.0.0.1":
            raise ValueError(f"the recorder fronts only a local http:// server, not {upstream}")
        self.entries: list[dict[str, Any]] = []
        lock = threading.Lock()
        entries = self.entries
        host, port = target.hostname, target.port or 80

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, and 100 Continue for Expect

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads the entries, not a log."""

            def _body(self) -> tuple[bytes | None, Any]:
                """The small body to keep, and the body's pieces to pass on."""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return None, self._chunks()
                length = int(self.headers.get("Content-Length") or 0)
                if length <= KEPT_BODY:
                    data = self.rfile.read(length)
                    return data, [data] if data else []
                return None, self._pieces(length)

            def _pieces(self, length: int) -> Any:
                while length > 0:
                    data = self.rfile.read(min(PIECE, length))
                    if not data:
                        raise ConnectionError("the client closed mid-body")
                    length -= len(data)
                    yield data

            def _chunks(self) -> Any:
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers: none of the book's clients sends one
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()

            def _forward(self) -> None:
                kept, pieces = self._body()
                chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
                entry: dict[str, Any] = {
                    "method": self.command,
                    "url": f"http://{self.headers.get('Host', '')}{self.path}",
                    "headers": dict(self.headers.items()),
                }
                if kept:
                    try:
                        entry["body"] = kept.decode()
                    except UnicodeDecodeError:
                        entry["body"], entry["body_encoded"] = base64.b64encode(kept).decode(), 1
                with lock:
                    entries.append(entry)
                # A connection per request: one kept open could be closed by the server between
                # two requests, and a streamed body cannot be sent again.
                conn = http.client.HTTPConnection(host, port, timeout=300)
                try:
                    self._send(conn, pieces, chunked)
                finally:
                    conn.close()

            def _send(self, conn: http.client.HTTPConnection, pieces: Any, chunked: bool) -> None:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP:
                        conn.putheader(name, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                try:
                    for data in pieces:
                        conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                    if chunked:
                        conn.send(b"0\r\n\r\n")
                except OSError:  # the server answered early (a refusal): read its answer,
                    for _ in pieces:  # after the rest of the client's body, then hang up
                        pass
                    self.close_connection = True
                response = conn.getresponse()
                self.send_response_only(response.status, response.reason)
                length = response.getheader("Content-Length")
                for name, value in response.getheaders():
                    if name.lower() not in HOP:
                        self.send_header(name, value)
                bodiless = self.command == "HEAD" or response.status in (204, 304)
                if not bodiless and length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if bodiless:
                    response.read()
                elif length is not None:
                    while data := response.read(PIECE):
                        self.wfile.write(data)
                else:
                    while data := response.read1(PIECE):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.write(b"0\r\n\r\n")

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
