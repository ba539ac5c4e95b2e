"""``s3lab classroom``: a key per learner that reaches only their own buckets.

The class tests run on the session's SeaweedFS sandbox, one class at a time, with learner names
no other test uses; each cleans its class up, and the ``class_home`` fixture checks that the
shared sandbox is as every other test expects it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3lab import backends, buckets, classroom, notebooks, sandbox, settings
from s3lab.buckets import names, transfer
from s3lab.sandbox import servers
from tests.support import ROOT, assert_one_line_error, cli

# --- without a server ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roster", "words"),
    [
        ("Ada\n", ["'Ada'", "lowercase"]),
        ("a\n", ["'a'", "2 to 20"]),
        ("ada_l\n", ["'ada_l'", "'ada-l'"]),
        ("ada\nbob\nada\n", ["'ada'", "twice"]),
        ("ada\nada-l\n", ["'ada'", "'ada-l'"]),
        ("instructor\n", ["reserved"]),
        ("# only a comment\n\n", ["no learner"]),
        ("a-very-long-learner-name-indeed\n", ["2 to 20"]),
    ],
)
def test_a_bad_roster_is_one_line_and_starts_nothing(
    tmp_path: Path, roster: str, words: list[str]
) -> None:
    path = tmp_path / "roster.txt"
    path.write_text(roster)
    result = cli("classroom", "start", "--roster", str(path))
    assert_one_line_error(result, *words)
    assert not classroom.class_dir().exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["--learners N or --roster FILE"]),
        (["--learners", "3", "--roster", "x"], ["not both"]),
        (["--learners", "0"], ["0 learners"]),
        (["--roster", "/nonexistent/roster.txt"], ["cannot read the roster"]),
        (["--learners", "2", "--host", "-bad host"], ["'-bad host'"]),
        (["--learners", "2", "--host", "0.0.0.0"], ["'0.0.0.0'", "learners reach"]),
    ],
)
def test_bad_start_arguments_are_one_line(args: list[str], words: list[str]) -> None:
    assert_one_line_error(cli("classroom", "start", *args), *words)


def test_install_profiles_needs_root_and_says_so_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(classroom.os, "geteuid", lambda: 1000)
    result = cli("classroom", "start", "--learners", "2", "--install-profiles")
    assert_one_line_error(result, "needs root", "sudo")
    assert not classroom.class_dir().exists()


@pytest.mark.parametrize("verb", ["status", "stop", "cleanup", "check"])
def test_no_class_is_one_line(verb: str) -> None:
    args = ["check", "buckets-cli"] if verb == "check" else [verb]
    assert_one_line_error(cli("classroom", *args), "no class is set up here")


def test_unique_name_starts_with_the_learner_of_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert names.unique_name("s3lab-first", learner="ada").startswith("ada-s3lab-first-")
    assert names.unique_name("ada-data", learner="ada").startswith("ada-data-")
    long = names.unique_name("x" * 60, learner="a" * 20)
    assert long.startswith("a" * 20 + "-") and len(long) <= 63 and not names.validate(long)
    config = tmp_path / "config"
    config.write_text("[profile s3lab-class]\nregion = us-east-1\ns3lab_learner = ada\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("S3LAB_BACKEND", "class")
    assert backends.resolve().profile == backends.CLASS_PROFILE
    assert names.unique_name("notes").startswith("ada-notes-")
    monkeypatch.setenv("S3LAB_BACKEND", "moto")  # on a sandbox everyone is the sandbox
    assert names.unique_name("notes").startswith("s3lab-notes-")  # the book's policy's start


def test_identities_file_limits_the_public_key_while_a_class_exists(tmp_path: Path) -> None:
    path = tmp_path / "s3.json"
    servers.write_identities(path, "AKIAEXAMPLE", "secret")
    assert json.loads(path.read_text())["identities"][0]["actions"] == list(servers.ALL_ACTIONS)
    extra = {"identities": [{"name": "class-ada", "actions": ["Read:ada-*"]}], "s3_bind": "0.0.0.0"}
    (tmp_path / servers.EXTRA_IDENTITIES).write_text(json.dumps(extra))
    servers.write_identities(path, "AKIAEXAMPLE", "secret", servers.read_extra(tmp_path))
    written = json.loads(path.read_text())["identities"]
    assert written[0]["actions"] == list(servers.LIMITED_ACTIONS)
    assert [i["name"] for i in written] == ["learner", "class-ada"]
    assert path.stat().st_mode & 0o777 == 0o600
    command = servers.server_command(list(range(20000, 20009)), tmp_path, ("AKIAEXAMPLE", "s"))
    assert "-s3.ip.bind=0.0.0.0" in command and "-ip.bind=127.0.0.1" in command


def _fake_room(home: Path, *learners: str) -> classroom.Classroom:
    room = classroom.Classroom(
        "http://10.0.0.5:8333", "10.0.0.5", "2026-01-01T00:00:00+00:00", "AKIAI", "secret-i",
        [classroom.Learner(name, f"AKIA{name.upper()}", f"secret-{name}") for name in learners],
    )  # fmt: skip
    classroom._save(room, home)
    return room


def test_install_profiles_keeps_other_profiles_and_hands_the_files_over(tmp_path: Path) -> None:
    import os

    _fake_room(tmp_path / "s3lab", "ada", "bob")
    ada = tmp_path / "ada"
    (ada / ".aws").mkdir(parents=True)
    (ada / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())  # nobody
    users = {"ada": (ada, uid, gid)}
    done = classroom.install_profiles(tmp_path / "s3lab", lookup=users.get, need_root=False)
    assert "no Linux user" in done["bob"] and "~ada/.aws" in done["ada"]
    config = (ada / ".aws" / "config").read_text()
    assert "[default]\nregion = eu-west-1" in config and "s3lab_learner = ada" in config
    assert "services = s3lab-class" in config and "[services s3lab-class]\ns3 =" in config
    assert "secret-ada" in (ada / ".aws" / "credentials").read_text()
    for path in (ada / ".aws", ada / ".aws" / "config", ada / ".aws" / "credentials"):
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
    assert (ada / ".aws" / "credentials").stat().st_mode & 0o777 == 0o600
    classroom._uninstall(classroom.load(tmp_path / "s3lab").learners[0])
    assert "s3lab-class" not in (ada / ".aws" / "credentials").read_text()
    assert "s3lab-class" not in (ada / ".aws" / "config").read_text()  # [services] section too
    assert "[default]\nregion = eu-west-1" in (ada / ".aws" / "config").read_text()
    assert (ada / ".aws" / "config").stat().st_uid == uid  # still the learner's


# --- on a private SeaweedFS ----------------------------------------------------------------------


@pytest.fixture
def class_home(server: backends.Backend) -> Iterator[Path]:
    """The session's SeaweedFS, for one class at a time; every test cleans its class up.

    While a class runs, the sandbox's public key can only list: nothing else runs then (the
    tests are sequential). Should a test fail before its clean-up, this puts the shared sandbox
    back as every other test expects it.
    """
    home = settings.home()
    yield home
    if (classroom.class_dir(home) / "class.json").exists():
        with contextlib.suppress(Exception):
            classroom.cleanup(home)
    extra = sandbox.sandbox_dir(home) / servers.EXTRA_IDENTITIES
    if extra.exists() or classroom.class_dir(home).exists():
        extra.unlink(missing_ok=True)
        shutil.rmtree(classroom.class_dir(home), ignore_errors=True)
        sandbox.stop("server", home=home)  # a restart forgets every class key
        sandbox.start("server", home=home)


def _public_client(home: Path) -> Any:
    """The sandbox's own client: the public example key."""
    box = sandbox.running("server", home, thorough=False)
    assert box is not None
    return sandbox.session().client("s3", endpoint_url=box.endpoint_url)


def _refused(call: Any, **kwargs: Any) -> str:
    """The error code of a call that must be refused (a success fails the test)."""
    try:
        call(**kwargs)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403, exc.response
        return str(exc.response["Error"]["Code"])
    raise AssertionError(f"{call.__name__}({kwargs}) was allowed")


@pytest.mark.integration
def test_a_learner_cannot_touch_another_learners_bucket(class_home: Path) -> None:
    tag = secrets.token_hex(2)
    room = classroom.start([f"ia{tag}", f"ib{tag}"], home=class_home)
    try:
        a, b = (classroom.client(room, name) for name in room.names())
        mine = buckets.make_bucket(a, names.unique_name("mine", learner=f"ia{tag}"))
        theirs = buckets.make_bucket(b, names.unique_name("theirs", learner=f"ib{tag}"))
        keys = [f"k{n}.txt" for n in range(3)]
        for key in keys:
            b.put_object(Bucket=theirs, Key=key, Body=key.encode())
        b.put_object_tagging(Bucket=theirs, Key=keys[0], Tagging={"TagSet": [{"Key": "t", "Value": "b"}]})  # fmt: skip
        upload = b.create_multipart_upload(Bucket=theirs, Key="big.bin")["UploadId"]
        a.put_object(Bucket=mine, Key="x.txt", Body=b"x")
        at, k0 = {"Bucket": theirs}, {"Bucket": theirs, "Key": keys[0]}
        up = {"Bucket": theirs, "Key": "big.bin", "UploadId": upload}
        part = {"Parts": [{"PartNumber": 1, "ETag": '"0"'}]}
        tags = {"TagSet": [{"Key": "t", "Value": "a"}]}
        calls = [
            (a.list_objects_v2, at), (a.list_objects, at), (a.head_bucket, at),
            (a.list_object_versions, at), (a.list_multipart_uploads, at),
            (a.head_object, k0), (a.get_object, k0), (a.get_object_tagging, k0),
            (a.put_object, {**k0, "Body": b"overwritten"}), (a.delete_object, k0),
            (a.put_object_tagging, {**k0, "Tagging": tags}), (a.delete_object_tagging, k0),
            (a.copy_object, {**k0, "Key": "copy.txt", "CopySource": {"Bucket": mine, "Key": "x.txt"}}),
            (a.copy_object, {"Bucket": mine, "Key": "stolen.txt", "CopySource": k0}),
            (a.create_multipart_upload, {**at, "Key": "mp.bin"}),
            (a.upload_part, {**up, "PartNumber": 1, "Body": b"p" * 10}),
            (a.list_parts, up), (a.complete_multipart_upload, {**up, "MultipartUpload": part}),
            (a.abort_multipart_upload, up),
            (a.get_bucket_tagging, at), (a.put_bucket_tagging, {**at, "Tagging": tags}),
            (a.delete_bucket_tagging, at), (a.get_bucket_versioning, at),
            (a.put_bucket_versioning, {**at, "VersioningConfiguration": {"Status": "Enabled"}}),
            (a.delete_bucket, at), (a.create_bucket, {"Bucket": f"ib{tag}-made-by-ia"}),
        ]  # fmt: skip
        codes = {f"{call.__name__}": _refused(call, **kwargs) for call, kwargs in calls}
        assert set(codes.values()) <= {"AccessDenied", "403"}, codes  # 403: a HEAD has no body
        answer = a.delete_objects(Bucket=theirs, Delete={"Objects": [{"Key": k} for k in keys]})
        assert not answer.get("Deleted"), answer
        assert sorted(e["Key"] for e in answer["Errors"]) == keys
        assert {e["Code"] for e in answer["Errors"]} == {"AccessDenied"}
        url = a.generate_presigned_url("get_object", Params=k0, ExpiresIn=60)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 403
        assert theirs not in [x["Name"] for x in a.list_buckets()["Buckets"]]
        assert mine in [x["Name"] for x in a.list_buckets()["Buckets"]]
        # B's bucket is as B left it
        left = {o.key: b.get_object(Bucket=theirs, Key=o.key)["Body"].read() for o in buckets.iter_objects(b, theirs)}  # fmt: skip
        assert left == {key: key.encode() for key in keys}
        assert b.get_object_tagging(Bucket=theirs, Key=keys[0])["TagSet"] == [{"Key": "t", "Value": "b"}]  # fmt: skip
        assert [u["UploadId"] for u in b.list_multipart_uploads(Bucket=theirs)["Uploads"]] == [upload]  # fmt: skip
        assert not _public_client(class_home).list_buckets()["Buckets"]  # the public key: nothing
    finally:
        done = classroom.cleanup(class_home)
    assert set(done.buckets) == {mine, theirs}


def _exercise_40(s3: Any, learner: str, files: Path, counter: dict[str, int]) -> None:
    """Chapter 40's exercise loop with a learner's key: make, sync, list, check, remove."""
    bucket = buckets.make_bucket(s3, names.unique_name("ex40", learner=learner))
    transfer.sync(s3, files, f"s3://{bucket}/data", quiet=True)
    again = transfer.sync(s3, files, f"s3://{bucket}/data", quiet=True)
    listed = sorted(o.key for o in buckets.iter_objects(s3, bucket))
    expected = sorted(f"data/{p.name}" for p in files.iterdir())
    if listed != expected or again.pairs:  # the check: every file there, the second sync idle
        counter["errors"] += 1
    buckets.remove_bucket(s3, bucket, force=True)
    left = buckets.make_bucket(s3, names.unique_name("left", learner=learner))  # for cleanup
    s3.put_object(Bucket=left, Key="notes.txt", Body=b"left for the clean-up\n")


@pytest.mark.integration
def test_thirty_learners_at_once_then_cleanup_leaves_only_what_is_not_the_class(
    class_home: Path, tmp_path: Path
) -> None:
    public = _public_client(class_home)
    keep = f"keep-{secrets.token_hex(4)}"
    public.create_bucket(Bucket=keep)
    files = tmp_path / "data"
    files.mkdir()
    for name in ("a.csv", "b.csv", "notes.txt"):
        (files / name).write_text(f"{name}\n1,2\n")
    tag = secrets.token_hex(2)
    room = classroom.start([f"ld{tag}x{n:02d}" for n in range(1, 31)], home=class_home)
    counter = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def count(**_: Any) -> None:
        with lock:
            counter["requests"] += 1

    def seat(name: str) -> None:
        s3 = classroom.client(room, name)
        s3.meta.events.register("before-send.s3", count)
        try:
            _exercise_40(s3, name, files, counter)
        except Exception as exc:  # counted and shown, not raised from a thread
            print(f"{name}: {exc}", file=sys.stderr)
            with lock:
                counter["errors"] += 1

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(seat, room.names()))
    took = time.monotonic() - began
    print(f"\nclassroom load: 30 learners, {counter['requests']} requests, "
          f"{counter['errors']} errors, {took:.1f} s")  # fmt: skip
    assert counter["errors"] == 0
    status = {s.learner: s for s in classroom.status(class_home)}
    assert all(s.buckets == 1 and s.objects == 1 for s in status.values()), status
    result = cli("classroom", "cleanup", env={"S3LAB_HOME": str(class_home)})
    assert result.returncode == 0, result.stderr
    assert "removed 30 class buckets, 31 keys" in result.stdout
    left = [b["Name"] for b in public.list_buckets()["Buckets"]]
    assert keep in left and not [n for n in left if room.owner(n)], left
    identities = json.loads((sandbox.sandbox_dir(class_home) / "server-s3.json").read_text())
    assert [i["name"] for i in identities["identities"]] == ["learner"]
    assert not (sandbox.sandbox_dir(class_home) / servers.EXTRA_IDENTITIES).exists()
    for who in ("instructor", room.names()[6]):
        _refused(classroom.client(room, who).list_buckets)
    assert not classroom.class_dir(class_home).exists()
    public.delete_bucket(Bucket=keep)


@pytest.mark.integration
def test_the_command_the_sheet_the_book_and_the_console(
    class_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = secrets.token_hex(2)
    roster = tmp_path / "roster.txt"
    roster.write_text(f"# the class\nca{tag}\n\ncb{tag}\n")
    env = {"S3LAB_HOME": str(class_home)}
    started = cli("classroom", "start", "--roster", str(roster), env=env)
    assert started.returncode == 0, started.stderr
    room = classroom.load(class_home)
    secret_keys = [room.instructor_secret, *(x.secret_key for x in room.learners)]
    assert not [s for s in secret_keys if s in started.stdout + started.stderr]
    assert f"ca{tag}" in started.stdout and "s3lab-class" in started.stdout
    try:
        snippet = classroom.snippet_dir(f"ca{tag}", class_home)
        assert {p.stat().st_mode & 0o777 for p in snippet.iterdir()} == {0o600}
        # a learner runs the book unchanged: their profile, S3LAB_BACKEND=class
        monkeypatch.setenv("AWS_CONFIG_FILE", str(snippet / "config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(snippet / "credentials"))
        monkeypatch.setenv("S3LAB_BACKEND", "class")
        for variable in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(variable, raising=False)
        ran = notebooks.execute(
            ROOT / "notebooks" / "10_first_bucket.ipynb", tmp_path / "out.ipynb", cwd=tmp_path
        )
        text = json.dumps(ran["cells"])
        assert f"ca{tag}-s3lab-first-" in text and "AccessDenied" not in text
        assert "first-bucket: done -- bucket found, 2 of 2 files under data/" in text
        monkeypatch.undo()
        # the console: status, check, stop
        b = classroom.client(room, f"cb{tag}")
        bucket = buckets.make_bucket(b, names.unique_name("ex", learner=f"cb{tag}"))
        b.put_object(Bucket=bucket, Key="a.txt", Body=b"12345")
        shown = json.loads(cli("classroom", "status", "--json", env=env).stdout)
        assert [(s["learner"], s["buckets"], s["bytes"]) for s in shown] == [
            (f"ca{tag}", 0, 0), (f"cb{tag}", 1, 5)
        ]  # fmt: skip
        assert shown[1]["last_activity"] and not shown[0]["last_activity"]
        assert f"cb{tag}" in cli("classroom", "status", env=env).stdout
        done = buckets.make_bucket(b, names.unique_name("first-bucket", learner=f"cb{tag}"))
        for key in ("data/a.txt", "data/b.txt"):
            b.put_object(Bucket=done, Key=key, Body=b"x")
        b.put_object(Bucket=done, Key="listing.txt", Body=b"1 a.txt\n1 b.txt\n")  # `aws s3 ls`
        checked = cli("classroom", "check", "first-bucket", env=env)
        assert "1 of 2 learners done" in checked.stdout, checked
        assert f"ca{tag}" in checked.stdout and "no bucket named" in checked.stdout
        assert_one_line_error(cli("classroom", "check", "no-such", env=env), "unknown exercise")
        assert cli("classroom", "stop", env=env).returncode == 0
        box = sandbox.running("server", class_home, thorough=False)
        assert box and not [
            k for k in secret_keys if k in Path(box.log).read_text(errors="replace")
        ]
        _refused(b.list_buckets)
        assert_one_line_error(cli("classroom", "start", "--learners", "2", env=env), "already")
    finally:
        cleaned = cli("classroom", "cleanup", env=env)
    assert cleaned.returncode == 0 and "removed 2 class buckets, 3 keys" in cleaned.stdout


def test_the_schedule_matches_each_chapters_stated_time() -> None:
    """The guide's table: every chapter of _toc.yml, teaching + exercises = the page's time."""
    import re

    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [
        entry["file"]
        for part in toc["parts"]
        for chapter in part["chapters"]
        for entry in [chapter, *chapter.get("sections", [])]
    ]
    guide = (ROOT / "book" / "classroom.md").read_text()
    rows = re.findall(r"^\| \[[^]]+\]\(([^)]+)\) \| (\d+) \| (\d+) \|", guide, re.MULTILINE)
    listed = {str((ROOT / "book" / link).resolve().relative_to(ROOT).with_suffix("")): (int(t), int(e)) for link, t, e in rows}  # fmt: skip
    assert sorted(listed) == sorted(files)  # every page, the reference pages too
    for file, (teaching, exercises) in listed.items():
        page = next((ROOT / file).parent.glob(f"{Path(file).name}.*"))
        stated = re.search(r"\*\*Time:\*\* (\d+) minutes", page.read_text())
        assert stated and teaching + exercises == int(stated.group(1)), (file, teaching, exercises)
