"""The small pieces issue 23 fixed, each alone: causes, escapes, keys, numbers, environments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from s3lab import settings
from s3lab.buckets import names
from s3lab.cli.common import Parser, number
from s3lab.errors import BucketError, S3LabError, UsageError, ini_problem, reraise, translate
from s3lab.mount import _unescape
from s3lab.sandbox import servers


def _no_such_bucket() -> ClientError:
    return ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "ListObjectsV2")


def test_an_untranslated_error_is_raised_as_it_is_never_its_own_cause() -> None:
    original = KeyError("a programming error")
    with pytest.raises(KeyError) as caught:
        try:
            raise original
        except KeyError as exc:
            reraise(exc, "doing something")
    assert caught.value is original
    assert caught.value.__cause__ is None  # was: the error itself, a loop in every printer


def test_a_translated_error_is_caused_by_the_original() -> None:
    with pytest.raises(BucketError) as caught:
        try:
            raise _no_such_bucket()
        except ClientError as exc:
            reraise(exc, "listing s3://b")
    assert isinstance(caught.value.__cause__, ClientError)
    assert caught.value.message.startswith("listing s3://b: NoSuchBucket")


def test_an_s3lab_error_passes_through_untouched() -> None:
    mine = UsageError("bad", "fix it")
    with pytest.raises(UsageError) as caught:
        try:
            raise mine
        except UsageError as exc:
            reraise(exc)
    assert caught.value is mine and caught.value.__cause__ is None


def test_an_xml_parse_error_is_translated_only_from_inside_botocore() -> None:
    """A 500's HTML body broke botocore's GetBucketLocation handler: a traceback, before."""
    from types import SimpleNamespace
    from xml.etree.ElementTree import ParseError, XMLParser

    from botocore.handlers import parse_get_bucket_location

    answer = SimpleNamespace(raw=object(), content=b"<html><body>Internal Server Error")
    with pytest.raises(ParseError) as inside:
        parse_get_bucket_location({}, answer)
    translated = translate(inside.value, "finding the region of b")
    assert translated is not None and "not S3's XML" in translated.message
    with pytest.raises(ParseError) as outside:
        XMLParser().close()  # raised by the standard library, called from s3lab's side
    assert translate(outside.value) is None  # a programming error keeps its traceback


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("region = x\n[default]\n", ("line 1", "before any [section]")),
        ("[default]\nregion = x\nno equals sign here\n", ("line 3", "'no equals sign here'")),
        ("[default]\na = 1\n[default]\n", ("line 3", "default")),
        ("[default]\na = 1\na = 2\n", ("line 3", "'a'")),
    ],
)
def test_a_broken_ini_file_is_named_by_its_line(tmp_path: Path, text: str, words: tuple) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    problem = ini_problem(str(path))
    for word in words:
        assert word in problem, problem


def test_a_good_ini_file_has_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    assert ini_problem(str(path)) == ""


@pytest.mark.parametrize(
    ("line", "path"),
    [
        (r"/mnt/my\040bucket", "/mnt/my bucket"),
        (r"/mnt/café\040au\040lait", "/mnt/café au lait"),  # was: "cafÃ©"
        (r"/mnt/データ\011tab", "/mnt/データ\ttab"),
        (r"/mnt/back\134slash", "/mnt/back\\slash"),
        ("/mnt/plain-é", "/mnt/plain-é"),
    ],
)
def test_mount_paths_from_proc_mounts(line: str, path: str) -> None:
    assert _unescape(line) == path


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("", "empty"),
        ("k" * 1025, "1,025 bytes"),
        ("é" * 513, "1,026 bytes"),  # 513 characters: S3 counts bytes
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("soap", "soap"),
        ("bad-\udcff", "UTF-8"),
    ],
)
def test_keys_s3_refuses(key: str, words: str) -> None:
    problem = names.key_problem(key)
    assert problem and words in problem, problem
    with pytest.raises(UsageError):
        names.require_valid_key(key)


@pytest.mark.parametrize(
    "key", ["a", "k" * 1024, "é" * 512, "a/b/c.txt", "a..b/c", ".hidden", "x/"]
)
def test_keys_s3_takes(key: str) -> None:
    assert names.key_problem(key) is None


@pytest.mark.parametrize("text", ["0", "-1", "65536", "nan", "inf", "1.5", "x", ""])
def test_a_number_out_of_range_is_one_line_with_its_range(text: str) -> None:
    parser = Parser(prog="s3lab test")
    parser.add_argument("--port", type=number(int, 1, 65535, "a TCP port"))
    with pytest.raises(UsageError) as caught:
        parser.parse_args(["--port", text])
    assert "--port" in caught.value.message and "1 to 65,535" in caught.value.hint


def test_a_number_in_range_is_taken() -> None:
    assert number(float, 0.1, 3600, "seconds")("2.5") == 2.5
    assert number(int, 1, 64, "workers")(" 8 ") == 8
    with pytest.raises(argparse.ArgumentTypeError):
        number(int, 1, 64, "workers")("65")


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "soon"])
def test_patience_settings_must_be_positive(value: str) -> None:
    for name in ("S3LAB_CONNECT_TIMEOUT", "S3LAB_READ_TIMEOUT", "S3LAB_ATTEMPTS"):
        with pytest.raises(S3LabError, match=name):
            settings.read({name: value})
    assert settings.read({"S3LAB_DOWNLOAD_RETRIES": "0"}).download_retries == 0


def test_sandbox_servers_get_no_learner_aws_setting(tmp_path: Path) -> None:
    learner = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_PROFILE": "nobody",
        "AWS_CONFIG_FILE": "/home/learner/.aws/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/home/learner/.aws/credentials",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AKIA" + "X" * 16,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env = servers.server_env(tmp_path, learner)
    assert {k for k in env if k.startswith("AWS_")} == {
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
    }
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["PATH"] == learner["PATH"] and env["TMPDIR"] == str(tmp_path)
