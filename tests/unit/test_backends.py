"""Where requests go is decided once, by one rule, and then passed (no server needed here).

The cloud backends (``aws``, ``kopah``, ``class``) resolve without asking a sandbox anything,
so the rule can be seen at work on them in a unit test; the sandboxes' side is in
``tests/integration/sandbox``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lab import backends, clients
from s3lab.errors import UsageError


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No switch set, private AWS files, and nothing remembered from another test.

    use() writes os.environ: the whole environment is put back after, not only the variables
    monkeypatch touched (it restores none it found unset), so no later test is sent to Kopah.
    """
    environment, used = dict(os.environ), list(backends._USED)
    for variable in ("S3LAB_BACKEND", "S3LAB_PROFILE", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    backends._USED.clear()
    yield
    os.environ.clear()
    os.environ.update(environment)
    backends._USED[:] = used


def test_the_name_passed_wins_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3LAB_BACKEND", "kopah")
    assert backends.resolve().name == "kopah"
    assert backends.resolve("aws").name == "aws"
    monkeypatch.delenv("S3LAB_BACKEND")
    assert backends.resolve(default="aws").name == "aws"


def test_a_name_is_checked_once_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="did you mean 'kopah'"):
        backends.resolve("kopha")
    monkeypatch.setenv("S3LAB_BACKEND", "AWS ")  # cleaned, as typed in a shell
    assert backends.resolve().name == "aws"
    monkeypatch.setenv("S3LAB_BACKEND", "mooto")
    with pytest.raises(UsageError, match="did you mean 'moto'"):
        backends.resolve()
    assert backends.resolve("aws").name == "aws"  # a name passed in: the environment unread


def test_the_profile_passed_wins_then_s3lab_profile_then_aws_profile_then_the_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert backends.resolve("kopah").profile == "kopah"
    assert backends.resolve("class").profile == backends.CLASS_PROFILE
    assert backends.resolve("aws").profile is None
    monkeypatch.setenv("AWS_PROFILE", "mine")
    assert backends.resolve("kopah").profile == "mine"
    monkeypatch.setenv("S3LAB_PROFILE", "lab")
    assert backends.resolve("kopah").profile == "lab"
    lab = backends.resolve("kopah", profile="given")
    assert (lab.profile, lab.env) == ("given", {"S3LAB_BACKEND": "kopah", "AWS_PROFILE": "given"})
    assert lab.credentials == "profile given" and lab.region is None
    assert repr(lab) == "Backend('kopah', profile given)"


def test_use_exports_and_remembers_and_current_reads_nothing_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a sandbox's, left over
    monkeypatch.setenv("S3LAB_BACKEND", "moto")  # (use() and `sandbox env` always say so)
    lab = backends.use("kopah")
    assert os.environ["S3LAB_BACKEND"] == "kopah" and os.environ["AWS_PROFILE"] == "kopah"
    assert "AWS_ENDPOINT_URL" not in os.environ  # it must not follow requests to Kopah
    monkeypatch.setenv("S3LAB_BACKEND", "aws")  # changed behind s3lab's back
    assert backends.current() is lab
    backends._USED.clear()
    assert backends.current().name == "aws"  # nothing used: resolved, not remembered
    assert not backends._USED
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a person's own: it stays
    backends.use("aws")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"


def test_the_learner_comes_from_the_backends_profile(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(
        f"[profile {backends.CLASS_PROFILE}]\n{backends.LEARNER_KEY} = ada\n"
        "[profile other]\nregion = us-east-1\n"
    )
    assert backends.learner(backends.resolve("class")) == "ada"
    assert backends.learner(backends.resolve("class", profile="other")) is None
    assert backends.learner(backends.Backend("moto")) is None  # on a sandbox: nobody
    backends.use(backends.resolve("class"))
    assert backends.learner() == "ada"  # the one use() chose


def test_every_client_gets_s3labs_patience_and_keeps_what_the_caller_set() -> None:
    from botocore.config import Config

    lab = backends.Backend("aws", endpoint_url="http://127.0.0.1:9")
    connect, read, _ = clients.patience()
    plain = clients.botocore_session().create_client(
        "s3", region_name="us-east-1", config=clients.client_config()
    )
    for made in (
        lab.client("s3", region_name="us-east-1"),
        lab.client("s3", region_name="us-east-1", helpers=False),
        lab.resource("s3", region_name="us-east-1").meta.client,
    ):
        config = made.meta.config
        assert (config.connect_timeout, config.read_timeout) == (connect, read)
        assert config.retries == plain.meta.config.retries  # standard mode, s3lab's tries
        assert made.meta.endpoint_url == "http://127.0.0.1:9"
    mine = lab.client("s3", region_name="us-east-1", config=Config(read_timeout=1))
    assert (mine.meta.config.read_timeout, mine.meta.config.connect_timeout) == (1, connect)
    assert hasattr(lab.client("s3", region_name="us-east-1"), "upload_file")  # boto3's helpers
    assert not hasattr(lab.client("s3", region_name="us-east-1", helpers=False), "upload_file")
