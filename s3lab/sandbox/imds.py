"""A local stand-in for EC2's instance metadata service (IMDSv2), to show the instance-role path.

On an EC2 VM with an IAM role, boto3 and the ``aws`` command find no keys in the environment or
in ``~/.aws``, and ask the metadata service at ``169.254.169.254`` for the role's temporary
keys: first a session token (``PUT /latest/api/token``), then the role's name and its keys.
This module serves the same answers on 127.0.0.1; ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` points
boto3 and the ``aws`` command at it. It hands out the sandbox's keys as the role's keys, so the
sandbox accepts what the role signs.

Nothing here runs on a real VM: there, EC2 serves the real thing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from s3lab import sandbox
from s3lab.sandbox.ports import HOST

ROLE = "s3lab-role"
TOKEN = "fake-imds-token"  # the IMDSv2 session token the stand-in asks for
SESSION_TOKEN = ""  # EC2 serves a session token; the sandboxes take the keys without one
_KEYS_PATH = "/latest/meta-data/iam/security-credentials/"


def role_keys(
    access_key_id: str = sandbox.FAKE_ACCESS_KEY_ID,
    secret_access_key: str = sandbox.FAKE_SECRET_ACCESS_KEY,
    hours: float = 6,
) -> dict[str, str]:
    """The JSON EC2 serves for a role's keys (the sandbox's keys by default)."""
    expires = datetime.now(UTC) + timedelta(hours=hours)
    return {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": access_key_id,
        "SecretAccessKey": secret_access_key,
        "Token": SESSION_TOKEN,
        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class _Handler(BaseHTTPRequestHandler):
    """IMDSv2 as EC2 serves it: a token first, then the role's name and temporary keys."""

    server: _Server

    def do_PUT(self) -> None:
        # EC2 says how long the token lasts; the Go SDK (rclone) needs to read it back
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "21600")
        ttl_header = {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
        self._answer(TOKEN if self.path == "/latest/api/token" else None, headers=ttl_header)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._answer(None, 401)
            return
        keys = json.dumps(role_keys(*self.server.keys))
        answers = {_KEYS_PATH: self.server.role, _KEYS_PATH + self.server.role: keys}
        self._answer(answers.get(self.path))

    def _answer(
        self, body: str | None, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        data = (body or "").encode()
        self.send_response(status if body is not None or status != 200 else 404)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    role: str = ROLE
    keys: tuple[str, str] = (sandbox.FAKE_ACCESS_KEY_ID, sandbox.FAKE_SECRET_ACCESS_KEY)


@dataclass
class InstanceRole:
    """A running stand-in; ``env`` is what points boto3 and the ``aws`` command at it."""

    endpoint: str
    role: str
    _server: _Server = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The variable that sends the credential chain's last step here."""
        return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": self.endpoint}

    def stop(self) -> None:
        """Stop serving (the thread ends with it)."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> InstanceRole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_instance_role(
    role: str = ROLE,
    access_key_id: str = sandbox.FAKE_ACCESS_KEY_ID,
    secret_access_key: str = sandbox.FAKE_SECRET_ACCESS_KEY,
) -> InstanceRole:
    """Serve IMDSv2 on 127.0.0.1 (a free port, in a thread of this process) and return it."""
    server = _Server((HOST, 0), _Handler)
    server.role = role
    server.keys = (access_key_id, secret_access_key)
    threading.Thread(target=server.serve_forever, daemon=True, name="imds-stand-in").start()
    return InstanceRole(f"http://{HOST}:{server.server_port}/", role, server)
