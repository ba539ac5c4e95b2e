"""Find anything shaped like an AWS key in text: the check behind the book, site and log secret guards."""

from __future__ import annotations

import re

from s3lab.sandbox import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

# The sandbox's keys are the AWS documentation's examples: fake by design, and documented.
ALLOWED = {FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY}

ACCESS_KEY_ID = re.compile(
    r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[A-Z0-9]{16}(?![A-Z0-9])"
)
# 40 characters of base64 standing alone; real secrets mix upper, lower and digits.
SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _looks_secret(token: str) -> bool:
    return (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
    )


def find_keys(text: str) -> list[str]:
    """Every key-shaped string in ``text`` that is not on the allow-list (masked)."""
    found = [m.group(0) for m in ACCESS_KEY_ID.finditer(text)]
    found += [m.group(0) for m in SECRET.finditer(text) if _looks_secret(m.group(0))]
    return [f"{key[:4]}...{key[-2:]}" for key in found if key not in ALLOWED]
