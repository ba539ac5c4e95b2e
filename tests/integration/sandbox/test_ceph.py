"""The ceph sandbox: Ceph's own S3 gateway (as Kopah runs it) for aws, boto3, s3cmd and s3fs.

One Ceph start is shared by every test that asks for the ``ceph`` fixture (tests/conftest.py),
which also checks, after ``stop``, that no process started with its config is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.config import Config

from s3lab import backends, clients, configure, sandbox
from s3lab.backends import Backend
from s3lab.sandbox import ceph as ceph_sandbox
from tests.support import assert_one_line_error, cli


def test_where_ceph_cannot_run_one_line_says_why_and_to_use_seaweedfs(monkeypatch, tmp_path):
    # a home of its own: in the session's, the Kopah chapter may have started Ceph already
    monkeypatch.setenv("S3LAB_HOME", str(tmp_path))
    monkeypatch.setattr(ceph_sandbox.shutil, "which", lambda name: None)
    result = cli("sandbox", "start", "--backend", "ceph")
    assert_one_line_error(result, "Ceph is not installed", "--backend server (SeaweedFS)")
    assert "apt-get install --no-install-recommends ceph-mon" in result.stderr

    monkeypatch.setattr(ceph_sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(ceph_sandbox.os, "geteuid", lambda: 1000)
    result = cli("sandbox", "start", "--backend", "ceph")
    assert_one_line_error(result, "only as root", "--backend server (SeaweedFS)")
    assert not (sandbox.sandbox_dir() / "ceph.json").exists()


def test_ceph_is_opt_in_not_in_all():
    assert "ceph" in sandbox.KINDS and "ceph" not in sandbox.SANDBOXES


def test_s3cmd_config_is_path_style_with_the_endpoints_host():
    text = configure.s3cmd_text("https://s3.kopah.uw.edu", "AKIDEXAMPLE", "secret", "us-east-1")
    assert "host_base = s3.kopah.uw.edu\n" in text
    assert "host_bucket = s3.kopah.uw.edu\n" in text  # no %(bucket)s: path style
    assert "use_https = True\n" in text
    local = configure.s3cmd_text("http://127.0.0.1:8000", "AKIDEXAMPLE", "secret", "us-east-1")
    assert "host_bucket = 127.0.0.1:8000\n" in local and "use_https = False\n" in local


def test_start_status_env_and_the_daemons_stay_on_loopback(ceph: Backend):
    status = cli("sandbox", "status", "--backend", "ceph")
    assert status.returncode == 0 and "running" in status.stdout, status
    env = cli("sandbox", "env", "--backend", "ceph")
    assert f"export AWS_ENDPOINT_URL={ceph.endpoint_url}" in env.stdout
    assert "export S3LAB_BACKEND=ceph" in env.stdout
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True)
    ceph_lines = [
        line for line in listening.stdout.splitlines() if "ceph-" in line or "radosgw" in line
    ]
    assert len(ceph_lines) >= 4, listening.stdout  # mon (2), osd (several), gateway
    assert all(" 127.0.0.1:" in line for line in ceph_lines), ceph_lines


def test_aws_command_mb_cp_ls_rb(ceph: Backend, tmp_path: Path):
    env = {**os.environ, **ceph.env}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    data = tmp_path / "results.csv"
    data.write_bytes(os.urandom(1024 * 1024))

    def aws(*args: str) -> str:
        done = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    aws("s3", "mb", "s3://ceph-aws-cli")
    aws("s3", "cp", str(data), "s3://ceph-aws-cli/results.csv")
    assert "results.csv" in aws("s3", "ls", "s3://ceph-aws-cli")
    aws("s3", "cp", "s3://ceph-aws-cli/results.csv", str(tmp_path / "back.csv"))
    assert (tmp_path / "back.csv").read_bytes() == data.read_bytes()
    aws("s3", "rb", "--force", "s3://ceph-aws-cli")


@pytest.mark.parametrize("checksums", ["when_supported", "when_required"])
def test_boto3_path_style_with_either_checksum_setting(ceph: Backend, checksums: str):
    from boto3.s3.transfer import TransferConfig

    s3 = ceph.client(
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation=checksums,
            response_checksum_validation=checksums,
        )
    )
    bucket = f"ceph-boto3-{checksums.replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="small", Body=b"hello ceph")
        assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"hello ceph"
        big = os.urandom(9 * 1024 * 1024)
        from io import BytesIO

        s3.upload_fileobj(
            BytesIO(big), bucket, "big", Config=TransferConfig(multipart_chunksize=5 << 20)
        )
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    finally:
        for key in ("small", "big"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


@pytest.mark.skipif(
    not shutil.which("s3cmd"), reason="s3cmd is not installed (apt-get install s3cmd)"
)
def test_s3cmd_with_the_config_s3lab_writes(ceph: Backend, tmp_path: Path):
    config = tmp_path / "s3cfg"
    written = cli("configure", "--s3cmd", "--backend", "ceph", "--s3cmd-file", str(config))
    assert written.returncode == 0, written.stderr
    assert (config.stat().st_mode & 0o777) == 0o600
    (tmp_path / "notes.txt").write_text("from s3cmd\n")

    def s3cmd(*args: str) -> str:
        done = subprocess.run(
            ["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    s3cmd("mb", "s3://ceph-s3cmd")
    s3cmd("put", str(tmp_path / "notes.txt"), "s3://ceph-s3cmd/")
    assert "s3://ceph-s3cmd/notes.txt" in s3cmd("ls", "s3://ceph-s3cmd")
    assert s3cmd("du", "s3://ceph-s3cmd").split()[:2] == ["11", "1"]  # bytes, objects
    s3cmd("rb", "--recursive", "--force", "s3://ceph-s3cmd")


def test_s3fs_mount_path_style(ceph: Backend, tmp_path: Path):
    s3 = ceph.client()
    s3.create_bucket(Bucket="ceph-mount")
    s3.put_object(Bucket="ceph-mount", Key="a.txt", Body=b"from boto3\n")
    folder = tmp_path / "bucket"
    folder.mkdir()
    mounted = cli(
        "mount", "ceph-mount", str(folder), "--tool", "s3fs", "--allow-delete",
        env={"S3LAB_BACKEND": "ceph"},
    )  # fmt: skip
    assert mounted.returncode == 0, mounted.stderr
    try:
        assert (folder / "a.txt").read_text() == "from boto3\n"
        (folder / "b.txt").write_text("from the folder\n")
    finally:
        assert cli("unmount", str(folder)).returncode == 0
    body = s3.get_object(Bucket="ceph-mount", Key="b.txt")["Body"].read()
    assert body == b"from the folder\n"
    for key in ("a.txt", "b.txt"):
        s3.delete_object(Bucket="ceph-mount", Key=key)
    s3.delete_bucket(Bucket="ceph-mount")


def test_the_kopah_chapter_falls_back_to_seaweedfs_where_ceph_cannot_run(monkeypatch):
    started: list[str] = []
    monkeypatch.setattr(ceph_sandbox, "cannot_run", lambda: ("no Ceph here", "use server"))
    monkeypatch.setattr(sandbox, "start", lambda name, **_: started.append(name))
    rehearsal = backends.rehearse()
    assert (rehearsal.backend, started, rehearsal.started) == ("server", ["server"], False)
    assert "no Ceph here" in rehearsal.note() and "SeaweedFS" in rehearsal.note()
    assert backends.rehearse("moto").backend == "moto"


def test_s3lab_put_and_get_through_the_crt(ceph: Backend, tmp_path: Path):
    # Ceph 16 refuses the CRC trailer s3transfer's CRT path adds to every upload (as v2's does);
    # s3lab's clients say when_required, so its CRT uploads must go without one, small or big.
    from s3transfer.crt import CRTTransferManager

    from s3lab.buckets import engines

    manager = engines.transfer_manager(ceph.client(config=clients.lean_config()))
    assert isinstance(manager, CRTTransferManager)  # what `s3lab bucket put` uses here
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(os.urandom(1 << 20))
    big.write_bytes(os.urandom(engines.MULTIPART_THRESHOLD * 2 + 1))  # three parts
    env = {"S3LAB_BACKEND": "ceph"}
    assert cli("bucket", "make", "ceph-crt", env=env).returncode == 0
    try:
        for path in (small, big):
            put = cli("bucket", "put", str(path), f"s3://ceph-crt/{path.name}", "--quiet", env=env)
            assert put.returncode == 0, put.stderr
            back = tmp_path / f"back-{path.name}"
            got = cli("bucket", "get", f"s3://ceph-crt/{path.name}", str(back), "--quiet", env=env)
            assert got.returncode == 0, got.stderr
            assert back.read_bytes() == path.read_bytes()
    finally:
        cli("bucket", "remove", "ceph-crt", "--force", env=env)
