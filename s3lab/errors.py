"""One exception family for s3lab.

Every error a learner can cause carries a one-line hint that says how to fix it. The CLI prints
``error: <message>`` and ``  fix: <hint>`` and exits non-zero, never a traceback; notebooks see
the same exception and can catch it.
"""

from __future__ import annotations


class S3LabError(Exception):
    """Base of every error s3lab raises on purpose.

    Raise a subclass when the cause is known and a person can act on it. Do not raise it for
    programming errors: those should keep their traceback.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def one_line(self) -> str:
        """The message and its fix, on one line, as the CLI prints it."""
        return f"error: {self.message}" + (f" -- fix: {self.hint}" if self.hint else "")


class UsageError(S3LabError, ValueError):
    """A value the user typed is not valid (a backend name, a region, a bucket name)."""


class NotInstalledError(S3LabError, FileNotFoundError):
    """A program or package s3lab needs is missing; the hint says how to install it."""


class SandboxError(S3LabError, RuntimeError):
    """A local S3 server could not be started, reached or stopped."""


class ConfigError(S3LabError, RuntimeError):
    """AWS configuration is missing, contradictory or unsafe (keys inside a git work tree)."""


class CredentialsError(S3LabError, PermissionError):
    """Credentials were found but the service rejected them (bad key, wrong secret, expired).

    Not for credentials that are missing: that is a ConfigError, and the fix differs.
    """


class BucketError(S3LabError, RuntimeError):
    """A bucket operation failed for a reason the user can act on (name taken, not empty)."""


class MountError(S3LabError, OSError):
    """A mount could not be made, checked or removed."""


class InstallError(S3LabError, RuntimeError):
    """A download, signature check or installer step failed; nothing half-installed is left."""


# AWS error codes a learner meets, each with the fix to print. One table, used by every job.
_CLIENT_ERROR_HINTS: dict[str, tuple[type[S3LabError], str]] = {
    "InvalidAccessKeyId": (
        CredentialsError,
        "the access key id is unknown: regenerate the key in the console, then `s3lab configure`",
    ),
    "SignatureDoesNotMatch": (
        CredentialsError,
        "the secret key is wrong: re-enter it with `s3lab configure` (or regenerate the key)",
    ),
    "ExpiredToken": (
        CredentialsError,
        "the session token expired: get new credentials, then `s3lab configure`",
    ),
    "InvalidClientTokenId": (
        CredentialsError,
        "the access key id is unknown: regenerate the key in the console, then `s3lab configure`",
    ),
    "AccessDenied": (
        CredentialsError,
        "these credentials may not do this: check the IAM policy of the user or role",
    ),
    "NoSuchBucket": (BucketError, "check the name with `s3lab bucket list`"),
    "BucketAlreadyExists": (
        BucketError,
        "bucket names are global and this one is taken: generate one with `s3lab bucket name`",
    ),
    "BucketNotEmpty": (BucketError, "empty it first, or remove it with `--force`"),
}


def from_boto(exc: BaseException, doing: str = "") -> S3LabError | None:
    """Translate a botocore exception into an S3LabError with a fix, or None if unknown.

    Kept in one place so that every job gives the same advice for the same AWS failure.
    """
    from botocore import exceptions as be

    prefix = f"{doing}: " if doing else ""
    if isinstance(exc, be.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = error.get("Message") or code
        if code in _CLIENT_ERROR_HINTS:
            kind, hint = _CLIENT_ERROR_HINTS[code]
            return kind(f"{prefix}{code}: {message}", hint)
        return S3LabError(f"{prefix}{code}: {message}", "")
    if isinstance(exc, be.NoCredentialsError):
        return ConfigError(
            f"{prefix}no AWS credentials were found",
            'run `s3lab configure`, or `eval "$(s3lab sandbox env)"` for the sandbox',
        )
    if isinstance(exc, be.ProfileNotFound):
        return ConfigError(f"{prefix}{exc}", "list profiles with `aws configure list-profiles`")
    if isinstance(exc, be.ConfigParseError):
        return ConfigError(
            f"{prefix}{exc}",
            "open the file in an editor and fix its syntax (each section starts with [name])",
        )
    if isinstance(exc, (be.EndpointConnectionError, be.ConnectTimeoutError)):
        where = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return S3LabError(
            f"{prefix}could not connect to {where}",
            "check the region's spelling (e.g. us-west-2) and the endpoint: `s3lab doctor`",
        )
    return None
