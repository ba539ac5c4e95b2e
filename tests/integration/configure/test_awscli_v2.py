"""The real AWS CLI v2 reads every profile s3lab writes, from a fresh shell, on both sandboxes.

"A fresh shell" is a child with only PATH and HOME: no ``AWS_*`` and no ``S3LAB_*`` variable, so
the profile in ``$HOME/.aws`` is all the CLI has. That is how a learner's terminal meets it the
next morning, and how a class learner (a real Linux user) meets the profile
``classroom start --install-profiles`` put in place. STS must answer from the profile alone:
the seed's first check (``aws sts get-caller-identity``) failed there, because the bare
``endpoint_url`` sent STS to SeaweedFS, which has none.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lab import backends, classroom, configure, sandbox, settings
from s3lab.install.machine import probe_aws
from s3lab.sandbox import servers
from tests.support import unavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aws_v2() -> str:
    """The ``aws`` set-up linked into this environment: it must be v2 here."""
    found = probe_aws()
    if found is None or found.major < 2:
        have = f"aws-cli {found.version}" if found else "no aws"
        unavailable(
            f"the AWS CLI v2 is not the aws on PATH ({have}): set-up kept PyPI's v1; "
            "S3LAB_AWSCLI_SOURCE=.../awscli-2.X.Y.tar.gz bash tasks.sh setup installs it",
            "the AWS CLI v2 profile tests",
        )
    return found.path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A learner's home whose ``~/.aws`` s3lab writes into (in this process, through the env)."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / ".aws" / "credentials"))
    return tmp_path


def fresh_shell(aws: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``aws ARGS`` with only PATH and HOME set (and a UTF-8 locale): the profile is all it has."""
    env = {"PATH": f"{Path(aws).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    assert not [name for name in env if name.startswith(("AWS_", "S3LAB_"))]
    return subprocess.run(
        [aws, *args], env=env, cwd=home, capture_output=True, text=True, timeout=120, check=False
    )


def works_from_the_profile_alone(aws: str, home: Path, profile: str, bucket: str) -> None:
    """The book's first commands, each from a fresh shell, each answered."""

    def ok(*args: str) -> str:
        done = fresh_shell(aws, home, "--profile", profile, *args)
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr.strip()}"
        return done.stdout

    assert ok("sts", "get-caller-identity", "--query", "Arn", "--output", "text").startswith(
        "arn:aws:"
    )
    listed = ok("configure", "list")
    assert profile in listed and "config-file" in listed and "****" in listed, listed
    (home / "hello.txt").write_text("Hello, S3!\n")
    assert f"make_bucket: {bucket}" in ok("s3", "mb", f"s3://{bucket}")
    ok("s3", "cp", "hello.txt", f"s3://{bucket}/hello.txt", "--no-progress")
    assert bucket in ok("s3", "ls")
    assert "hello.txt" in ok("s3", "ls", f"s3://{bucket}")
    assert f"remove_bucket: {bucket}" in ok("s3", "rb", f"s3://{bucket}", "--force")


def _bucket(prefix: str) -> str:
    return f"{prefix}-v2-{secrets.token_hex(4)}"


@pytest.mark.parametrize("kind", ["sandbox", "kopah", "endpoint"])
def test_v2_reads_each_profile_s3lab_writes(
    aws_v2: str, home: Path, lab: backends.Backend, kind: str
) -> None:
    box = sandbox.running(lab.name, thorough=False)
    assert box is not None
    keys = {
        "access_key_id": sandbox.FAKE_ACCESS_KEY_ID,
        "secret_access_key": sandbox.FAKE_SECRET_ACCESS_KEY,
    }
    if kind == "sandbox":
        written = configure.configure_sandbox(lab.name)
    elif kind == "kopah":  # Kopah's settings (path style, checksums when required), rehearsed
        written = configure.configure_kopah(endpoint_url=box.endpoint_url, **keys)
    else:  # any S3-compatible store: an endpoint and the checksum settings Ceph needs
        written = configure.configure(
            "store",
            region=sandbox.REGION,
            endpoint_url=box.endpoint_url,
            settings={"request_checksum_calculation": "when_required"},
            **keys,
        )
    text = (home / ".aws" / "config").read_text()
    assert f"services = {written.profile}" in text and f"[services {written.profile}]" in text
    works_from_the_profile_alone(aws_v2, home, written.profile, _bucket(kind))


@pytest.fixture
def class_home(server: backends.Backend) -> Iterator[Path]:
    """The session's SeaweedFS for one class; put back as every other test expects it."""
    state = settings.home()
    yield state
    if (classroom.class_dir(state) / "class.json").exists():
        with contextlib.suppress(Exception):
            classroom.cleanup(state)
    extra = sandbox.sandbox_dir(state) / servers.EXTRA_IDENTITIES
    if extra.exists() or classroom.class_dir(state).exists():
        extra.unlink(missing_ok=True)
        shutil.rmtree(classroom.class_dir(state), ignore_errors=True)
        sandbox.stop("server", home=state)
        sandbox.start("server", home=state)


def test_v2_reads_a_class_learners_installed_profile(
    aws_v2: str, class_home: Path, tmp_path: Path
) -> None:
    learner = f"v{secrets.token_hex(3)}"
    learner_home = tmp_path / learner
    learner_home.mkdir()
    classroom.start([learner], home=class_home)
    try:
        users = {learner: (learner_home, os.getuid(), os.getgid())}
        done = classroom.install_profiles(class_home, lookup=users.get, need_root=False)
        assert "profile s3lab-class" in done[learner]
        works_from_the_profile_alone(aws_v2, learner_home, "s3lab-class", _bucket(learner))
    finally:
        classroom.cleanup(class_home)
