"""Bucket names: the rules, a check that says which rule a name breaks, and generated names.

Bucket names live in one global namespace shared by every AWS account, so a name is generated
by code rather than invented (``mybucket`` is long gone). :func:`unique_name` cleans any text
into a valid start, adds the date and a random part; :func:`validate` names the rule a name
breaks, so a person can fix it.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import secrets
import string

from s3lab.errors import UsageError

_ALPHABET = string.ascii_lowercase + string.digits

# Every rule for general purpose bucket names (S3 User Guide, "General purpose bucket naming
# rules"), in the order a person would check them, each with a name that breaks it. The tests
# run every example; the chapter prints the table.
NAME_RULES: tuple[tuple[str, str], ...] = (
    ("be 3 to 63 characters long", "ab"),
    ("use only lowercase letters, digits, dots (.) and hyphens (-)", "icesat-II-deform"),
    ("begin with a letter or a digit", "-data"),
    ("end with a letter or a digit", "data-"),
    ("not contain two dots in a row (..)", "my..data"),
    ("not look like an IP address (such as 192.168.5.4)", "192.168.5.4"),
    ("not begin with xn-- (reserved for internationalised domain names)", "xn--data"),
    ("not begin with sthree- (reserved by S3)", "sthree-data"),
    ("not begin with amzn-s3-demo- (reserved for AWS documentation)", "amzn-s3-demo-data"),
    ("not end with -s3alias (reserved for access point aliases)", "data-s3alias"),
    ("not end with --ol-s3 (reserved for Object Lambda access point aliases)", "data--ol-s3"),
    ("not end with .mrap (reserved for Multi-Region Access Points)", "data.mrap"),
    ("not end with --x-s3 (reserved for directory buckets)", "data--x-s3"),
    ("not end with --table-s3 (reserved for S3 table buckets)", "data--table-s3"),
    (
        "not end with -an outside an account-regional namespace "
        "(reserved for <prefix>-<account>-<region>-an buckets)",
        "data-an",
    ),
)

_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3", "-an")


def validate(name: str) -> str | None:
    """The first naming rule ``name`` breaks, as a sentence ("must ..."), or None if valid.

    Returning the rule rather than True/False is what lets a person fix the name.
    """
    rules = [rule for rule, _ in NAME_RULES]
    broken: str | None = None
    if not 3 <= len(name) <= 63:
        broken = rules[0]
    elif re.search(r"[^a-z0-9.-]", name):
        broken = rules[1]
    elif not name[0].isalnum():
        broken = rules[2]
    elif not name[-1].isalnum():
        broken = rules[3]
    elif ".." in name:
        broken = rules[4]
    elif _is_ip_address(name):
        broken = rules[5]
    else:
        for index, prefix in enumerate(_PREFIXES):
            if name.startswith(prefix):
                return f"must {rules[6 + index]}"
        for index, suffix in enumerate(_SUFFIXES):
            if name.endswith(suffix):
                return f"must {rules[9 + index]}"
    return f"must {broken}" if broken else None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name))
    return True


def require_valid_name(name: str) -> str:
    """Return ``name`` if it is a valid bucket name, else raise UsageError with the rule.

    Raises:
        UsageError: the name breaks a rule (the message says which).
    """
    broken = validate(name)
    if broken:
        raise UsageError(
            f"{name!r} is not a valid bucket name: it {broken}",
            f"generate one with `s3lab bucket name --prefix {clean_prefix(name)}`",
        )
    return name


def clean_prefix(prefix: str) -> str:
    """Turn any text into a safe start of a bucket name: lowercase, ``-`` for anything else.

    ``icesat-II-deform`` becomes ``icesat-ii-deform``; ``My_Project`` becomes ``my-project``.
    At most 40 characters, so the date and random part still fit in 63.
    """
    cleaned = re.sub(r"[^a-z0-9-]+", "-", prefix.lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")[:40].strip("-")
    if any(f"{cleaned}-".startswith(reserved) for reserved in _PREFIXES):
        cleaned = f"b-{cleaned}"  # sthree-..., amzn-s3-demo-...: reserved starts
    return cleaned or "s3lab"


#: How every name :func:`unique_name` makes starts (outside a class): the book's IAM policy
#: (policy/s3lab-book-policy.json) allows exactly the buckets ``s3lab-*``, so a name a learner
#: makes as an exercise's text says is one the VM's role may use.
BOOK_START = "s3lab"


def unique_name(
    prefix: str = BOOK_START,
    *,
    today: _dt.date | None = None,
    learner: str | None = None,
    book_start: bool = True,
) -> str:
    """A bucket name nobody has yet: ``s3lab-<prefix>-<yyyymmdd>-<6 random characters>``.

    The date tells a class which buckets are old; the random part makes a clash with another
    account (which would be BucketAlreadyExists) very unlikely. The prefix is cleaned first, so
    any text (a person's name, a project title) gives a valid name.

    The name starts with ``s3lab-`` (:data:`BOOK_START`) unless the prefix already does, so the
    book's IAM policy allows it; ``book_start=False`` leaves it out (a project's own bucket).
    In a class (``s3lab classroom``), the name starts with ``<learner>-`` instead: the only names
    the learner's key may create. ``learner`` defaults to the one the profile in use names
    (:func:`s3lab.backends.learner`).
    """
    from s3lab import backends

    who = learner if learner is not None else backends.learner()
    start = clean_prefix(prefix)
    if who and not start.startswith(f"{who}-"):
        start = f"{who}-{start}"[:46].strip("-")  # 46 + the date and random part = 63
    elif not who and book_start and start != BOOK_START and not start.startswith(f"{BOOK_START}-"):
        start = f"{BOOK_START}-{start}"[:46].strip("-")
    day = (today or _dt.date.today()).strftime("%Y%m%d")
    token = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return require_valid_name(f"{start}-{day}-{token}")


# --- object keys ---------------------------------------------------------------------------------

#: S3's limit on an object key (prefix, slashes and name together), in UTF-8 *bytes*: 1,024
#: ASCII characters, but only 512 accented ones. S3 answers KeyTooLongError above it; moto and
#: SeaweedFS accept longer keys, so s3lab checks it itself, the same for every backend.
MAX_KEY_BYTES = 1024


def key_problem(key: str) -> str | None:
    """What makes ``key`` a key S3 refuses (or one no copy could bring back), else None.

    The rules, in the order they are checked: not empty; UTF-8 text (a file name in another
    encoding is not); at most :data:`MAX_KEY_BYTES` bytes in UTF-8; no ``.`` or ``..`` path
    segment (S3's URLs and every SDK resolve them, so the object cannot be addressed as
    written, and a download would climb out of its folder); not ``soap`` (S3 refuses it in
    virtual-hosted requests, AWS's default).
    """
    if not key:
        return "is empty: an object needs a key"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not UTF-8 text (a file name written in another encoding)"
    if size > MAX_KEY_BYTES:
        return f"is {size:,} bytes long in UTF-8; S3 allows at most {MAX_KEY_BYTES:,}"
    if any(part in (".", "..") for part in key.split("/")):
        return "has a '.' or '..' path segment, which S3's URLs resolve away"
    if key == "soap":
        return "is 'soap', which S3 refuses in virtual-hosted requests"
    return None


def require_valid_key(key: str, where: str = "") -> str:
    """Return ``key`` if S3 would take it, else raise UsageError: before any request is sent."""
    broken = key_problem(key)
    if broken:
        shown = key if len(key) <= 60 else f"{key[:40]}...{key[-12:]}"
        raise UsageError(
            f"the key {shown!r}{where} {broken}",
            "choose a shorter key made of UTF-8 text, without '.' or '..' segments",
        )
    return key
