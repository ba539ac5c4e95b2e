"""One exception family for s3lab, and the one table from AWS errors to fixes.

Every error a learner can cause carries a fix. The CLI prints ``error: <message> -- fix: <fix>``
on one line and exits non-zero, never a traceback; notebooks see the same exception and can
catch it. Every failure that comes from AWS (or an S3-compatible server), whether botocore's or
the Common Runtime's, is translated by :func:`translate` through :data:`AWS_ERRORS`, so the same
failure gets the same advice in every job. No other module holds advice for an AWS error code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn


class S3LabError(Exception):
    """Base of every error s3lab raises on purpose.

    Raise a subclass when the cause is known and a person can act on it. Do not raise it for
    programming errors: those should keep their traceback. Each subclass has a default ``fix``
    so that no error reaches a person without one.
    """

    exit_code = 2
    fix = "run `s3lab doctor` to see what is wrong with the set-up"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or type(self).fix

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})"

    def one_line(self) -> str:
        """The message and its fix, on one line, as the CLI prints it."""
        return f"error: {self.message} -- fix: {self.hint}"


class UsageError(S3LabError, ValueError):
    """A value the user typed is not valid (a backend name, a region, a bucket name).

    Not for a valid value the service refused: that is an error from :data:`AWS_ERRORS`.
    """

    fix = "see `s3lab --help` for the accepted values"


class NotInstalledError(S3LabError, FileNotFoundError):
    """A program or package s3lab needs is missing; the fix says how to install it."""

    fix = "install it with `s3lab install --help`, or run `bash tasks.sh setup`"


class SandboxError(S3LabError, RuntimeError):
    """A local S3 server could not be started, reached or stopped."""

    fix = "see `s3lab sandbox status`, then `s3lab sandbox stop` and `s3lab sandbox start`"


class ConfigError(S3LabError, RuntimeError):
    """AWS configuration is missing, contradictory or unsafe (keys inside a git work tree).

    Not for credentials the service rejected: that is a :class:`CredentialsError`.
    """

    fix = "see what the aws command reads with `s3lab configure list`"


class CredentialsError(S3LabError, PermissionError):
    """Credentials were found but the service rejected them (bad key, wrong secret, expired).

    Not for credentials that are missing: that is a ConfigError, and the fix differs.
    """

    fix = "check the keys with `s3lab doctor`, then re-enter them with `s3lab configure`"


class BucketError(S3LabError, RuntimeError):
    """A bucket operation failed for a reason the user can act on (name taken, not empty)."""

    fix = "see your buckets with `s3lab bucket list`"


class EndpointError(S3LabError, ConnectionError):
    """The S3 endpoint did not answer: down, unreachable, a wrong URL or region, or too slow.

    Not for an endpoint that answered with an error: that answer has its own code.
    """

    fix = "check the endpoint and the region's spelling with `s3lab doctor`"


class ServiceError(S3LabError, RuntimeError):
    """The service answered with an error that has no more specific fix in the table."""

    fix = "run the command again; if it fails the same way, `s3lab doctor` checks the set-up"


class MountError(S3LabError, OSError):
    """A mount could not be made, checked or removed."""

    fix = "see the mount program's log (named above) and `s3lab mount --list`"


class InstallError(S3LabError, RuntimeError):
    """A download, signature check or installer step failed; nothing half-installed is left."""

    fix = "run the same `s3lab install` again; `--dry-run` shows each step"


class PartialError(S3LabError):
    """A copy copied what it could; some items could not be (``warnings``: one line each).

    Raised after the rest is done, never instead of it: a download that meets one object it
    cannot write as a local file still brings back every other one. ``plan`` is what was done.
    """

    exit_code = 1
    fix = "fix or move what each warning names, then run the same command again"

    def __init__(
        self, message: str, warnings: list[str] | None = None, plan: object = None
    ) -> None:
        super().__init__(message)
        self.warnings = warnings or []
        self.plan = plan


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a job that can say what it finished; the message says what was and was not.

    A KeyboardInterrupt still (so nothing catches it by accident), with the fix to print.
    """

    fix = "run the same command again: it copies what is missing"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def one_line(self) -> str:
        """The message and its fix, on one line, as the CLI prints it."""
        return f"error: {self.message} -- fix: {self.fix}"


# The one table: AWS error codes (and the bare HTTP statuses that answers without a body carry,
# such as HeadBucket's) to the kind of error and the fix to print. Codes are those of S3 and
# STS; S3-compatible servers (SeaweedFS, Ceph) use the same codes.
_NEW_KEY = "the key is wrong or was deleted: make a new one in the console, then `s3lab configure`"
AWS_ERRORS: dict[str, tuple[type[S3LabError], str]] = {
    "InvalidAccessKeyId": (CredentialsError, _NEW_KEY),
    "InvalidClientTokenId": (CredentialsError, _NEW_KEY),
    "SignatureDoesNotMatch": (
        CredentialsError,
        "the secret key does not match the key id: re-enter both with `s3lab configure`",
    ),
    "ExpiredToken": (
        CredentialsError,
        "the temporary credentials expired: get new ones (aws sso login, or your role), "
        "then run the command again",
    ),
    "ExpiredTokenException": (
        CredentialsError,
        "the temporary credentials expired: get new ones (aws sso login, or your role), "
        "then run the command again",
    ),
    "RequestTimeTooSkewed": (
        CredentialsError,
        "this machine's clock is wrong: set it (e.g. `sudo timedatectl set-ntp true`)",
    ),
    "AccessDenied": (
        CredentialsError,
        "these credentials may not do this: check the IAM policy of the user or role "
        "(`s3lab doctor` shows who you are)",
    ),
    "403": (
        CredentialsError,
        "these credentials may not do this, or the bucket is another account's: check the "
        "profile (--profile) and its IAM policy",
    ),
    "AllAccessDisabled": (
        CredentialsError,
        "all access to this bucket is disabled: ask its owner, or use another bucket",
    ),
    "NoSuchBucket": (
        BucketError,
        "check the name with `s3lab bucket list`, or create it with `s3lab bucket make NAME`",
    ),
    "404": (
        BucketError,
        "nothing by that name here: check the name with `s3lab bucket list`",
    ),
    "NoSuchKey": (
        BucketError,
        "no object by that key: list the bucket with `aws s3 ls s3://BUCKET/ --recursive`",
    ),
    "BucketAlreadyExists": (
        BucketError,
        "bucket names are global and another account owns this one: generate a name with "
        "`s3lab bucket name`",
    ),
    "BucketAlreadyOwnedByYou": (
        BucketError,
        "you already own a bucket by this name: use it, or pick another name",
    ),
    "BucketNotEmpty": (
        BucketError,
        "empty it first, or remove it with `s3lab bucket remove NAME --force`",
    ),
    "InvalidBucketName": (
        UsageError,
        "see the naming rules with `s3lab bucket validate NAME`",
    ),
    "IllegalLocationConstraintException": (
        ConfigError,
        "the bucket's region and the client's differ: pass --region with the bucket's region",
    ),
    "PermanentRedirect": (
        ConfigError,
        "the bucket lives in another region: pass --region with the bucket's region",
    ),
    "301": (
        ConfigError,
        "the bucket lives in another region: pass --region with the bucket's region",
    ),
    "AuthorizationHeaderMalformed": (
        ConfigError,
        "the region is wrong for this endpoint: check it with `s3lab configure list`",
    ),
    "400": (
        ConfigError,
        "the request was refused as malformed: check the region and endpoint with `s3lab doctor`",
    ),
    "XAmzContentSHA256Mismatch": (
        ConfigError,
        "this store refused the upload's checksum (older Ceph does): set "
        "`request_checksum_calculation = when_required` in the profile "
        "(`s3lab configure --kopah` writes it)",
    ),
    "NoSuchUpload": (
        ServiceError,
        "the multipart upload was already finished or aborted: run the command again",
    ),
    "KeyTooLongError": (
        UsageError,
        "a key is at most 1,024 bytes of UTF-8 (SeaweedFS: 255 bytes between slashes): "
        "choose a shorter one",
    ),
    "EntityTooLarge": (
        UsageError,
        "one PUT takes at most 5 GB: upload with `s3lab bucket put`, which uses multipart",
    ),
    "SlowDown": (
        ServiceError,
        "the service asks for fewer requests: wait a minute, then run the command again",
    ),
    "503": (
        ServiceError,
        "the service is busy or down: wait a minute, then run the command again",
    ),
    "InternalError": (
        ServiceError,
        "the service failed inside: run the command again; it resumes where it stopped",
    ),
    "500": (
        ServiceError,
        "the service failed inside: run the command again; it resumes where it stopped",
    ),
    "NotImplemented": (
        ServiceError,
        "this S3-compatible server does not offer that feature: use AWS, or do without it",
    ),
    "501": (
        ServiceError,
        "this S3-compatible server does not offer that feature: use AWS, or do without it",
    ),
}

# The Common Runtime's names for "the endpoint did not answer" (awscrt.exceptions.AwsCrtError).
_CRT_UNREACHABLE = (
    "AWS_IO_SOCKET_",
    "AWS_IO_DNS_",
    "AWS_IO_TLS_",
    "AWS_ERROR_HTTP_CONNECTION_CLOSED",
    "AWS_ERROR_HTTP_SERVER_CLOSED",
    "AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT",
    "AWS_IO_CHANNEL_ERROR_SOCKET_CLOSED",
)


def code_of(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or its bare HTTP status), else ``""``."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", "") or "")
    if not code:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(status or "")
    return code


def status_of(exc: BaseException) -> int:
    """The HTTP status of a botocore ClientError, else 0."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_aws_error(exc: BaseException) -> bool:
    """True for errors that come from talking to S3: botocore's, s3transfer's or the CRT's."""
    module = type(exc).__module__
    return module.startswith(("botocore", "s3transfer", "awscrt", "boto3"))


def _where(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", None) or {}
    return str(kwargs.get("endpoint_url") or "the endpoint")


def translate(exc: BaseException, doing: str = "") -> S3LabError | None:
    """Translate an error from botocore, s3transfer or the CRT into an S3LabError with a fix.

    Returns None for anything else (a programming error keeps its traceback). ``doing`` says
    what s3lab was doing, e.g. ``"removing bucket b"``; it leads the message. To raise the
    result, use :func:`reraise` (``translate(exc) or exc from exc`` would make an untranslated
    error its own cause).
    """
    from botocore import exceptions as be

    prefix = f"{doing}: " if doing else ""
    if isinstance(exc, S3LabError):
        return exc
    if isinstance(exc, be.ClientError):
        code = code_of(exc)
        message = exc.response.get("Error", {}).get("Message") or code or "no message"
        text = f"{prefix}{code}: {message}" if message != code else f"{prefix}{code}"
        kind, fix = AWS_ERRORS.get(code) or _by_status(status_of(exc))
        return kind(text, fix)
    if isinstance(exc, be.NoCredentialsError):
        return ConfigError(
            f"{prefix}no AWS credentials were found",
            'run `s3lab configure`, or `eval "$(s3lab sandbox env)"` for the sandbox',
        )
    if isinstance(exc, be.PartialCredentialsError):
        return ConfigError(
            f"{prefix}{exc}", "set both the key id and the secret: `s3lab configure`"
        )
    if isinstance(exc, be.ProfileNotFound):
        return ConfigError(
            f"{prefix}{exc}",
            "list profiles with `aws configure list-profiles`, or make it "
            "with `s3lab configure --profile NAME`",
        )
    if isinstance(exc, be.ConfigParseError):
        return broken_ini(str((getattr(exc, "kwargs", None) or {}).get("path") or ""), prefix)
    if isinstance(exc, be.NoRegionError):
        return ConfigError(f"{prefix}no region is set", "set one with `s3lab configure --region R`")
    if isinstance(exc, (be.ConnectTimeoutError, be.ReadTimeoutError)):
        return EndpointError(
            f"{prefix}{_where(exc)} did not answer in time",
            "check that the server is up and the URL right: `s3lab doctor`",
        )
    if isinstance(exc, be.EndpointConnectionError):
        return EndpointError(
            f"{prefix}could not connect to {_where(exc)}",
            "check the region's spelling (e.g. us-west-2) and the endpoint: `s3lab doctor`",
        )
    if isinstance(exc, (be.ConnectionError, be.HTTPClientError)):
        return EndpointError(
            f"{prefix}the connection to {_where(exc)} failed: {exc}",
            "check that the server is up, then run the command again: `s3lab doctor`",
        )
    if isinstance(exc, be.BotoCoreError):
        return ServiceError(f"{prefix}{exc}")
    name = getattr(exc, "name", "")
    if type(exc).__module__.startswith("awscrt") and isinstance(name, str):
        if name.startswith(_CRT_UNREACHABLE):
            return EndpointError(
                f"{prefix}the endpoint stopped answering ({name})",
                "check that the server is up, then run the same command again: it resumes",
            )
        return ServiceError(f"{prefix}{name}: {getattr(exc, 'message', exc)}")
    if is_aws_error(exc):
        return ServiceError(f"{prefix}{exc}")
    if _from_botocore_xml(exc):
        return ServiceError(
            f"{prefix}the endpoint answered with something that is not S3's XML ({exc})",
            "it failed inside (see its log), or it is not an S3 server: check with `s3lab doctor`",
        )
    return None


def _from_botocore_xml(exc: BaseException) -> bool:
    """True for an XML parse error raised inside botocore (a 500's HTML body, for example).

    botocore parses some answers in its handlers with the standard library's parser, whose
    error is not botocore's; one raised by other code stays a programming error.
    """
    from xml.etree.ElementTree import ParseError

    if not isinstance(exc, ParseError):
        return False
    frame = exc.__traceback__
    while frame is not None:
        if f"{os.sep}botocore{os.sep}" in frame.tb_frame.f_code.co_filename:
            return True
        frame = frame.tb_next
    return False


def ini_problem(path: str) -> str:
    """Where and how an AWS ini file (``~/.aws/config``) is broken: ``line 7: ...``, or ``""``.

    botocore's own error says only "Unable to parse config file"; the same parser it uses
    (``configparser.RawConfigParser``) knows the line, so the file is parsed again to ask it.
    """
    import configparser

    parser = configparser.RawConfigParser()
    try:
        with Path(path).expanduser().open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except configparser.MissingSectionHeaderError as exc:
        return f"line {exc.lineno}: {exc.line.strip()!r} comes before any [section] header"
    except configparser.ParsingError as exc:
        number = exc.errors[0][0]
        line = Path(path).expanduser().read_text(encoding="utf-8").splitlines()[number - 1]
        return f"line {number}: {line.strip()!r} is neither `key = value` nor a [section] header"
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as exc:
        return f"line {exc.lineno}: {exc.message.split(': ', 1)[-1]}"
    except configparser.Error as exc:
        return str(exc).splitlines()[0]
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def broken_ini(path: str, doing: str = "") -> ConfigError:
    """The one error for an AWS ini file that does not parse: the file, the line, the fix."""
    where = ini_problem(path) if path else ""
    name = path or "an AWS config file"
    return ConfigError(
        f"{doing}{name} is not a valid AWS ini file" + (f": {where}" if where else ""),
        f"open {name} in an editor and fix that line (each section starts with [name], "
        "then `key = value` lines), or move the file away to start afresh",
    )


def reraise(exc: BaseException, doing: str = "") -> NoReturn:
    """Raise :func:`translate`'s error for ``exc`` (caused by it), or ``exc`` itself unchanged.

    Call it in ``except ... as exc:``. An error :func:`translate` does not know (a programming
    error) is raised as it is, its traceback and cause untouched. The pattern it replaces,
    ``raise translate(exc) or exc from exc``, made such an error its own cause.
    """
    translated = translate(exc, doing)
    if translated is None or translated is exc:
        raise exc
    raise translated from exc


def _by_status(status: int) -> tuple[type[S3LabError], str]:
    """The table's row for a code it does not know, chosen by the HTTP status class."""
    if status in (401, 403):
        return AWS_ERRORS["403"]
    if status == 404:
        return AWS_ERRORS["404"]
    if status >= 500:
        return AWS_ERRORS["500"]
    return ServiceError, ServiceError.fix
