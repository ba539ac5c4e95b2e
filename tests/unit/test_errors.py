"""The one table of AWS errors: every error class has a fix, every AWS failure is translated.

Unit tests: no server. botocore's own exception classes are built by hand, the way botocore
raises them.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from botocore import exceptions as be

import s3lab
from s3lab import errors
from s3lab.errors import AWS_ERRORS, S3LabError, translate


def all_error_classes() -> list[type[S3LabError]]:
    """Every S3LabError subclass the package defines, in any module (all are imported first)."""
    for module in pkgutil.iter_modules(s3lab.__path__):
        importlib.import_module(f"s3lab.{module.name}")
    found: list[type[S3LabError]] = []
    todo: list[type[S3LabError]] = [S3LabError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def client_error(code: str, status: int, message: str = "") -> be.ClientError:
    error = {"Code": code, "Message": message} if code else {}
    return be.ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "HeadBucket"
    )


def test_the_package_defines_several_error_classes() -> None:
    assert len(all_error_classes()) >= 10


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_raised_bare_carries_a_fix(cls: type[S3LabError]) -> None:
    with pytest.raises(S3LabError) as caught:
        raise cls("something went wrong")
    assert caught.value.hint.strip(), f"{cls.__name__} has no fix"
    line = caught.value.one_line()
    assert line.startswith("error: something went wrong -- fix: ") and "\n" not in line


@pytest.mark.parametrize("code", sorted(AWS_ERRORS))
def test_every_code_in_the_table_translates_to_its_class_and_fix(code: str) -> None:
    kind, fix = AWS_ERRORS[code]
    assert fix.strip() and issubclass(kind, S3LabError)
    status = int(code) if code.isdigit() else 400
    error = translate(client_error(code, status, "the server's words"), "doing a thing")
    assert isinstance(error, kind)
    assert error.hint == fix
    assert error.message.startswith("doing a thing: ")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(403, errors.CredentialsError), (404, errors.BucketError), (500, errors.ServiceError)],
)
def test_a_bare_status_without_a_code_is_translated_by_its_status(status: int, kind: type) -> None:
    error = translate(client_error("", status))
    assert isinstance(error, kind)
    assert error.hint == AWS_ERRORS[str(status)][1]


def test_an_unknown_code_still_gets_a_fix() -> None:
    error = translate(client_error("SomethingNew", 409, "new"))
    assert isinstance(error, errors.ServiceError) and error.hint


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (be.NoCredentialsError(), errors.ConfigError),
        (be.PartialCredentialsError(provider="env", cred_var="secret"), errors.ConfigError),
        (be.ProfileNotFound(profile="nope"), errors.ConfigError),
        (be.ConfigParseError(path="~/.aws/config"), errors.ConfigError),
        (be.NoRegionError(), errors.ConfigError),
        (be.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), errors.EndpointError),
        (be.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), errors.EndpointError),
        (be.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), errors.EndpointError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_botocore_errors_become_s3lab_errors_with_a_fix(exc: Exception, kind: type) -> None:
    error = translate(exc, "listing buckets")
    assert isinstance(error, kind) and error.hint.strip()
    assert error.message.startswith("listing buckets: ")


def test_a_crt_connection_error_names_the_fix() -> None:
    from awscrt.exceptions import AwsCrtError

    crt = AwsCrtError(1047, "AWS_IO_SOCKET_CONNECTION_REFUSED", "socket connection refused.")
    error = translate(crt, "copying to s3://b")
    assert isinstance(error, errors.EndpointError)
    assert "AWS_IO_SOCKET_CONNECTION_REFUSED" in error.message and error.hint.strip()


def test_programming_errors_are_not_translated() -> None:
    assert translate(KeyError("x")) is None
    assert translate(TypeError("x")) is None


def test_no_other_module_holds_advice_for_an_aws_code() -> None:
    """The table is the one place: no module but errors.py pairs an AWS code with a fix."""
    from pathlib import Path

    package = Path(s3lab.__file__).parent
    offenders = []
    for path in package.glob("*.py"):
        if path.name == "errors.py":
            continue
        text = path.read_text()
        for code in AWS_ERRORS:
            if code.isdigit():
                continue
            # A code next to a fix-like phrase in the same statement is advice written twice.
            for line_no, line in enumerate(text.splitlines(), 1):
                reads_the_table = "AWS_ERRORS" in line
                advice = "fix" in line.lower() or "`s3lab" in line
                if f'"{code}"' in line and advice and not reads_the_table:
                    offenders.append(f"{path.name}:{line_no}: {line.strip()}")
    assert not offenders, offenders
