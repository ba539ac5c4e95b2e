"""The learner's path: a sandbox that behaves like an account and keeps its ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from s3lab import backends, sandbox
from tests.conftest import cli


def _aws(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    aws = shutil.which("aws")
    assert aws, "the aws command must be installed by the set-up"
    return subprocess.run([aws, *args], env=env, capture_output=True, text=True, timeout=60)


def _account_and_profile_work(box: sandbox.Sandbox, aws_dir: Path) -> None:
    """``aws sts get-caller-identity`` with the sandbox's env, and ``s3 ls`` via its profile."""
    env = {**os.environ, **box.env()}
    who = _aws("sts", "get-caller-identity", "--output", "json", env=env)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Account"].isdigit()
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "AWS_ACC"))}
    plain |= {
        "AWS_CONFIG_FILE": str(aws_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
    }
    listed = _aws("--profile", "s3lab-sandbox", "s3", "ls", env=plain)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.integration  # starts S3 servers
@pytest.mark.parametrize("name", sandbox.SANDBOXES)
def test_sandbox_answers_sts_and_keeps_its_ports_across_stop_and_start(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, aws_dir = tmp_path / "home", tmp_path / "aws"
    monkeypatch.setenv("S3LAB_HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_dir / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_dir / "credentials"))
    try:
        first, note = backends.start_sandbox(name)
        assert note == ""
        done = cli("configure", "--sandbox", "--backend", name)
        assert done.returncode == 0, done.stderr
        _account_and_profile_work(first, aws_dir)
        sandbox.stop(name)
        assert sandbox.running(name) is None
        again, note = backends.start_sandbox(name)
        assert (again.ports, again.sts_url, note) == (first.ports, first.sts_url, "")
        _account_and_profile_work(again, aws_dir)
    finally:
        sandbox.stop()


@pytest.mark.integration  # starts an S3 server
def test_a_taken_port_moves_the_sandbox_and_rewrites_its_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, aws_dir = tmp_path / "home", tmp_path / "aws"
    monkeypatch.setenv("S3LAB_HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_dir / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_dir / "credentials"))
    try:
        first, _ = backends.start_sandbox("moto")
        assert cli("configure", "--sandbox", "--backend", "moto").returncode == 0
        sandbox.stop("moto")
        with socket.socket() as squatter:  # someone else takes the port while it is stopped
            squatter.bind((sandbox.HOST, first.port))
            squatter.listen()
            done = cli("sandbox", "start", "--backend", "moto")
        assert done.returncode == 0, done.stderr
        assert "profile now points there" in done.stderr, done.stderr
        moved = sandbox.running("moto")
        assert moved is not None and moved.port != first.port
        _account_and_profile_work(moved, aws_dir)
    finally:
        sandbox.stop()
