"""What people type into ``s3lab configure``, checked before anything is written.

Each check names the trap it catches (a key pasted with its quotes, a secret where the key id
goes, a region typo's neighbour) and returns the cleaned value, or raises a one-line error.
"""

from __future__ import annotations

import difflib
import re
from urllib.parse import urlsplit

from s3lab.configure.awsfiles import mask
from s3lab.errors import UsageError

OUTPUTS = ("json", "text", "table", "yaml", "yaml-stream")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.@+=,-]+$")


def check_profile_name(name: str) -> str:
    """A profile name the aws command can address with ``--profile`` (no spaces, no brackets)."""
    if not name or not _PROFILE_NAME.match(name):
        raise UsageError(
            f"{name!r} is not a usable profile name",
            "use letters, digits and - _ . only, e.g. --profile kopah",
        )
    return name


def check_plain(value: str, what: str, flag: str) -> str:
    """A value pasted with spaces, a newline or quotes around it fails later, far from here."""
    if not value or any(ch.isspace() for ch in value) or not value.isprintable():
        raise UsageError(
            f"the {what} is empty or contains spaces or line breaks",
            f"paste it again without spaces or quotes: {flag}",
        )
    return value


#: The shape of an AWS access key id: AKIA (long-term) or ASIA (temporary), 16 more characters.
_AWS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
#: The shape of an AWS secret access key: 40 characters of base64's alphabet.
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")


def _looks_like_secret(value: str) -> bool:
    return len(value) >= 30 or "/" in value or "+" in value


def check_access_key_id(value: str, *, custom_endpoint: bool = False) -> str:
    """Refuse what cannot be an access key id, and catch the swapped key/secret mistake.

    For AWS (no custom endpoint) the id must have AWS's shape; a custom store (Ceph, SeaweedFS)
    makes its own, so there any plain value passes (the caller adds a note).
    """
    check_plain(value, "access key id", "--access-key-id")
    if _looks_like_secret(value):
        raise UsageError(
            f"the access key id {mask(value)} looks like a secret access key",
            "the id is the short one (20 characters, e.g. AKIA...); the secret is the long one",
        )
    if not custom_endpoint and not _AWS_KEY_ID.fullmatch(value):
        raise UsageError(
            f"{mask(value)} is not an AWS access key id (20 capitals and digits, AKIA... or "
            "ASIA...)",
            "copy the id from the IAM console again; for another store add --endpoint-url URL",
        )
    return value


def check_secret(value: str, *, custom_endpoint: bool = False) -> str:
    """Refuse what cannot be a secret key; the swapped-fields mistake gets its own message."""
    check_plain(value, "secret access key", "--secret-access-key -  (then paste it)")
    if _AWS_KEY_ID.fullmatch(value):
        raise UsageError(
            f"the secret {mask(value)} looks like an access key id",
            "the secret is the long one (40 characters) shown once when the key was made",
        )
    if not custom_endpoint and not _AWS_SECRET.fullmatch(value):
        raise UsageError(
            f"the secret {mask(value)} is not an AWS secret access key (40 characters)",
            "paste the whole secret again (--secret-access-key -); for another store add "
            "--endpoint-url URL",
        )
    return value


def key_shape_note(access_key_id: str, secret: str) -> str:
    """A note when keys for a custom endpoint do not have AWS's shape (they are accepted)."""
    if _AWS_KEY_ID.fullmatch(access_key_id) and _AWS_SECRET.fullmatch(secret):
        return ""
    return (
        "the keys do not have AWS's shape (AKIA... and 40 characters); accepted, because this "
        "profile's endpoint is not AWS"
    )


def check_output(value: str) -> str:
    """One of the aws command's output formats."""
    if value in OUTPUTS:
        return value
    close = difflib.get_close_matches(value.lower(), OUTPUTS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UsageError(f"{value!r} is not an output format", f"{hint}use one of {', '.join(OUTPUTS)}")


def check_endpoint_url(value: str) -> str:
    """An http(s) URL with a host; a bare host name gets "did you mean https://...".

    Raises:
        UsageError: ``value`` is not an http(s) URL of a host, or has a path.
    """
    parts = urlsplit(value.strip())
    if parts.scheme in ("http", "https") and parts.hostname and parts.path.strip("/"):
        base = f"{parts.scheme}://{parts.netloc}"
        raise UsageError(
            f"the endpoint URL {value!r} has a path ({parts.path})",
            f"give the server only, e.g. {base}; a bucket or folder goes in s3:// URLs instead",
        )
    if parts.scheme in ("http", "https") and parts.hostname and value == value.strip():
        return value.rstrip("/")
    guess = "https://" + value.strip().split("://")[-1].rstrip("/")
    raise UsageError(
        f"{value!r} is not an endpoint URL",
        f"did you mean {guess}? An endpoint starts with https:// (or http:// for a local server)",
    )
