"""s3lab doctor: the verdict for each classic failure, and for a set-up that works.

Rejected credentials are tested on the ``server`` backend only: moto accepts any secret.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from s3lab import backends, configure, sandbox
from s3lab.configure.doctor import Context, check_cli, check_clock
from s3lab.errors import AWS_ERRORS
from s3lab.sandbox import imds, ports
from tests.support import assert_one_line_error, cli, run_cli

SECRET = sandbox.FAKE_SECRET_ACCESS_KEY


def doctor(
    *args: str, table: bool = False, end_to_end: bool = False, **env: str
) -> tuple[int, dict[str, dict[str, str]], str]:
    """Run ``s3lab doctor``; return its exit code, the checks by name, and (if asked) the table.

    In this process by default; ``end_to_end`` runs the real command in a child process.
    """
    run = run_cli if end_to_end else cli
    result = run("doctor", "--json", *args, env=env or None)
    assert "Traceback" not in result.stderr, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    text = run("doctor", *args, env=env or None).stdout if table else ""
    return result.returncode, checks, text


def sandbox_profile(name: str, backend: str, **values: str) -> None:
    assert cli("configure", "--sandbox", "--backend", backend, "--profile", name).returncode == 0
    if values:
        configure.configure(name, **values)


def statuses(checks: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: c["status"] for name, c in checks.items()}


ORDER = [
    "aws CLI",
    "region",
    "credentials found",
    "credentials private",
    "endpoint reachable",
    "credentials accepted",
    "S3 list works",
    "FUSE for mounts",
    "clock skew",
]


@pytest.mark.usefixtures("aws_files")
def test_everything_fine(lab: object) -> None:
    sandbox_profile("fine", lab.name)  # type: ignore[attr-defined]
    code, checks, table = doctor("--profile", "fine", table=True, end_to_end=True)
    assert list(checks) == ORDER
    assert set(statuses(checks).values()) == {"ok"}, table
    assert code == 0
    assert "shared-credentials-file" in checks["credentials found"]["detail"]
    assert table.rstrip().endswith("all checks passed")


@pytest.mark.usefixtures("aws_files")
def test_identity_uses_sts_where_there_is_sts_and_says_so_where_not(lab: object) -> None:
    # The sandbox profile names its STS (moto's own; the SeaweedFS sandbox's STS helper)
    sandbox_profile("who", lab.name)  # type: ignore[attr-defined]
    _, checks, _ = doctor("--profile", "who")
    detail = checks["credentials accepted"]["detail"]
    assert detail.startswith("arn:aws:") and "sts get-caller-identity" in detail
    if lab.name == "server":  # type: ignore[attr-defined]
        # a profile whose STS is SeaweedFS itself, which has none: S3 is asked instead
        endpoint = lab.endpoint_url  # type: ignore[attr-defined]
        configure.configure(
            "nosts",
            access_key_id=sandbox.FAKE_ACCESS_KEY_ID,
            secret_access_key=sandbox.FAKE_SECRET_ACCESS_KEY,
            region=sandbox.REGION,
            endpoint_url=endpoint,
            sts_endpoint_url=endpoint,
        )
        _, checks, _ = doctor("--profile", "nosts")
        detail = checks["credentials accepted"]["detail"]
        assert "signed S3 ListBuckets" in detail and "no STS" in detail


@pytest.mark.usefixtures("aws_files")
def test_no_cli(server: object, tmp_path: Path) -> None:
    sandbox_profile("nocli", "server")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    code, checks, _table = doctor("--profile", "nocli", PATH=str(empty))
    assert code == 1
    assert checks["aws CLI"]["status"] == "FAIL"
    assert "not on PATH" in checks["aws CLI"]["detail"]
    assert "s3lab install awscli" in checks["aws CLI"]["fix"]
    assert checks["credentials accepted"]["status"] == "ok"  # the rest still ran


@pytest.mark.usefixtures("aws_files")
@pytest.mark.parametrize(
    ("version", "verdict"),
    [
        ("aws-cli/2.12.7 Python/3.11.4 Linux/6.1 exe/x86_64.debian.12 prompt/off", "FAIL"),
        ("aws-cli/2.13.0 Python/3.11.4 Linux/6.1 exe/x86_64.debian.12", "ok"),
        ("aws-cli/1.28.9 Python/3.11.4 Linux/6.1 botocore/1.30.9", "FAIL"),
        ("aws-cli/1.29.0 Python/3.11.4 Linux/6.1 botocore/1.31.0", "ok"),
        ("not the aws cli", "FAIL"),
    ],
)
def test_cli_version(
    tmp_path: Path, version: str, verdict: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho '{version}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    check = check_cli(Context(None))
    assert check.status == verdict, check
    if verdict == "FAIL" and version.startswith("aws"):
        assert "too old to read endpoint_url" in check.detail


@pytest.mark.usefixtures("aws_files")
def test_bad_region(server: object, aws_files: tuple[Path, Path]) -> None:
    sandbox_profile("typo", "server")
    config = aws_files[0]
    config.write_text(config.read_text().replace("region = us-east-1", "region = uswest-2"))
    code, checks, table = doctor("--profile", "typo", table=True)
    assert code == 1
    assert checks["region"]["status"] == "FAIL"
    assert "'uswest-2' is not an AWS region" in checks["region"]["detail"]
    assert "did you mean us-west-2?" in checks["region"]["fix"]
    assert "fix: did you mean us-west-2?" in table


def test_region_typo_on_aws_is_suspected_first_when_dns_fails(
    aws_files: tuple[Path, Path],
) -> None:
    """No endpoint: the region names the host (s3.uswest-2.amazonaws.com), which cannot resolve."""
    aws_files[0].parent.mkdir()
    aws_files[0].write_text("[profile typo]\nregion = uswest-2\n")
    code, checks, _ = doctor("--profile", "typo")
    assert code == 1
    endpoint = checks["endpoint reachable"]
    assert endpoint["status"] == "FAIL"
    assert endpoint["detail"].startswith("DNS: the name s3.uswest-2.amazonaws.com")
    assert "region 'uswest-2' is suspect first" in endpoint["fix"]


@pytest.mark.usefixtures("aws_files")
def test_unknown_key(server: object) -> None:
    sandbox_profile(
        "unknown", "server", access_key_id="UNKNOWNKEYID00000000", secret_access_key=SECRET
    )
    code, checks, _ = doctor("--profile", "unknown")
    assert code == 1
    accepted = checks["credentials accepted"]
    assert accepted["status"] == "FAIL"
    assert accepted["detail"].startswith("InvalidAccessKeyId")
    assert accepted["fix"] == AWS_ERRORS["InvalidAccessKeyId"][1]  # the one table's advice
    assert checks["credentials found"]["status"] == "ok"  # found, but not accepted
    assert checks["S3 list works"]["status"] == "skip"


@pytest.mark.usefixtures("aws_files")
def test_a_local_sts_stand_in_does_not_vouch_for_a_key_s3_refuses(
    server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SeaweedFS sandbox's STS is a moto helper that accepts any key: S3 must be asked too."""
    sandbox_profile(
        "stand-in", "server", access_key_id="UNKNOWNKEYID00000000", secret_access_key=SECRET
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sandbox.pick("server").sts_url)
    code, checks, _ = doctor("--profile", "stand-in")
    assert code == 1
    assert checks["credentials accepted"]["status"] == "FAIL"
    assert checks["credentials accepted"]["detail"].startswith("InvalidAccessKeyId")
    sandbox_profile("stand-in-ok", "server")
    code, checks, _ = doctor("--profile", "stand-in-ok")
    assert "S3 itself accepted it too" in checks["credentials accepted"]["detail"]


@pytest.mark.usefixtures("aws_files")
def test_wrong_secret(server: object) -> None:
    wrong = SECRET[:-4] + "xxxx"
    sandbox_profile(
        "wrong", "server", access_key_id=sandbox.FAKE_ACCESS_KEY_ID, secret_access_key=wrong
    )
    code, checks, _ = doctor("--profile", "wrong")
    assert code == 1
    accepted = checks["credentials accepted"]
    assert accepted["status"] == "FAIL"
    assert accepted["detail"].startswith("SignatureDoesNotMatch")
    assert accepted["fix"] == AWS_ERRORS["SignatureDoesNotMatch"][1]


@pytest.mark.usefixtures("aws_files")
def test_endpoint_down(server: object) -> None:
    port = ports.free_port()  # nothing listens there
    sandbox_profile("down", "server", endpoint_url=f"http://127.0.0.1:{port}")
    code, checks, _table = doctor("--profile", "down")
    assert code == 1
    endpoint = checks["endpoint reachable"]
    assert endpoint["status"] == "FAIL"
    assert endpoint["detail"] == f"connect: 127.0.0.1:{port}: connection refused"
    assert "s3lab sandbox start" in endpoint["fix"]
    assert checks["credentials accepted"]["status"] == "skip"
    assert checks["clock skew"]["status"] == "skip"


@pytest.mark.usefixtures("aws_files")
def test_dns_failure_is_named(server: object) -> None:
    sandbox_profile("nodns", "server", endpoint_url="https://s3.example.invalid")  # RFC 2606
    code, checks, _ = doctor("--profile", "nodns")
    assert code == 1
    endpoint = checks["endpoint reachable"]
    assert endpoint["detail"] == "DNS: the name s3.example.invalid does not resolve"
    assert "spelling" in endpoint["fix"]


@pytest.mark.usefixtures("aws_files")
def test_no_credentials() -> None:
    code, checks, _ = doctor()
    assert code == 1
    assert checks["credentials found"]["status"] == "FAIL"
    assert "s3lab configure" in checks["credentials found"]["fix"]


@pytest.mark.usefixtures("aws_files")
def test_credentials_readable_by_others_fail(server: object, aws_files: tuple[Path, Path]) -> None:
    sandbox_profile("open", "server")
    aws_files[1].chmod(0o644)
    code, checks, _ = doctor("--profile", "open")
    assert code == 1
    assert checks["credentials private"]["status"] == "FAIL"
    assert checks["credentials private"]["fix"] == "s3lab configure --fix-permissions"


@pytest.mark.parametrize(("offset", "verdict"), [(0, "ok"), (-20 * 60, "FAIL"), (20 * 60, "FAIL")])
def test_clock_skew(offset: float, verdict: str) -> None:
    ctx = Context(None, server_date=formatdate(time.time() + offset, usegmt=True))
    check = check_clock(ctx)
    assert check.status == verdict
    if verdict == "FAIL":
        assert "timedatectl" in check.fix


def test_backend_flag_checks_the_sandbox(lab: object) -> None:
    code, checks, table = doctor("--backend", lab.name)  # type: ignore[attr-defined]
    assert code == 0, table
    assert "from env" in checks["credentials found"]["detail"]


def test_unknown_backend_is_one_line() -> None:
    assert_one_line_error(cli("doctor", "--backend", "mota"), "--help")


@pytest.mark.integration  # reaches a running sandbox
def test_instance_role_is_named_as_the_source(
    aws_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On EC2 with a role, keys come from the metadata service: a local stand-in plays it."""
    moto = backends.resolve("moto")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    with imds.start_instance_role() as role:
        code, checks, _ = doctor(
            **role.env,
            AWS_ENDPOINT_URL=str(moto.endpoint_url),
            AWS_DEFAULT_REGION="us-west-2",
        )
    found = checks["credentials found"]
    assert found["status"] == "ok"
    assert "from iam-role: instance metadata" in found["detail"], found
    assert checks["credentials accepted"]["status"] == "ok"
    assert code == 0, checks
