"""The bad-input battery: everything a class of thirty might type wrong, in one table.

Each row is a command line (run in-process through ``cli()``), a call of the notebook API, or a
command whose reader closed the pipe (a real child process). Each must fail with one line that
names the problem and the fix (or, for the closed pipe, end quietly with 141, as Unix tools
do), exit non-zero, show no traceback, and change nothing: not the AWS files, not the case's
folder, not the buckets or objects on the sandbox (listed before and after).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.endpoint
import botocore.loaders
import botocore.session
import pytest

import s3lab
from s3lab import backends, buckets, mount, sandbox, settings
from s3lab.buckets import copy, cost, transfer
from s3lab.errors import S3LabError
from tests.support import (
    RELIABILITY,
    RELIABILITY_BY,
    ROOT,
    assert_one_line_error,
    cli,
    run_cli,
)

BUCKET = "battery-bucket"
MISSING = "battery-no-such-bucket"
# Key-shaped test values, split so that no secret scanner takes this file for a leak.
AWS_KEY = "AKIA" + "BATTERYTEST00001"
AWS_SECRET = "batteryTest/secret+not/a/" + "real/key0000000"
SECRET_IN_KEY = "batteryTest/secret+not/a/" + "real/key0000001"
NOT_WRITABLE = "/proc/s3lab-battery"  # even root cannot make a folder there

# (id, arguments, words the error line must contain). {tmp} is the case's own folder (with
# afile.txt, empty/, full/x.txt), {bucket} a bucket with two objects.
CLI_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    # bucket names: each rule
    ("name-short", ["bucket", "make", "ab"], ("3 to 63", "s3lab bucket name")),
    ("name-long", ["bucket", "make", "a" * 64], ("3 to 63",)),
    ("name-upper", ["bucket", "make", "My-Bucket"], ("lowercase",)),
    ("name-underscore", ["bucket", "make", "my_bucket"], ("lowercase",)),
    ("name-start", ["bucket", "make", "--", "-abc"], ("begin",)),
    ("name-end", ["bucket", "make", "abc-"], ("end",)),
    ("name-dots", ["bucket", "make", "a..b"], ("two dots",)),
    ("name-ip", ["bucket", "make", "192.168.1.1"], ("IP",)),
    ("name-xn", ["bucket", "make", "xn--abc"], ("xn--",)),
    ("name-sthree", ["bucket", "make", "sthree-abc"], ("sthree-",)),
    ("name-demo", ["bucket", "make", "amzn-s3-demo-abc"], ("amzn-s3-demo-",)),
    ("name-alias", ["bucket", "make", "abc-s3alias"], ("-s3alias",)),
    ("name-ol", ["bucket", "make", "abc--ol-s3"], ("--ol-s3",)),
    ("name-mrap", ["bucket", "make", "abc.mrap"], (".mrap",)),
    ("name-express", ["bucket", "make", "abc--x-s3"], ("--x-s3",)),
    ("name-table", ["bucket", "make", "abc--table-s3"], ("--table-s3",)),
    ("name-an", ["bucket", "make", "data-an"], ("-an",)),
    ("name-empty", ["bucket", "make", ""], ("bucket name",)),
    ("name-space", ["bucket", "make", "   "], ("bucket name",)),
    ("name-unicode", ["bucket", "make", "bücket"], ("lowercase",)),
    # regions
    ("region-typo", ["bucket", "make", "battery-ok-1", "--region", "uswest-2"], ("us-west-2",)),
    ("region-empty", ["bucket", "make", "battery-ok-2", "--region", " "], ("region",)),
    ("region-unicode", ["bucket", "make", "battery-ok-3", "--region", "us-wést-2"], ("region",)),
    ("configure-region", ["configure", "--region", "eu-west"], ("region",)),
    # buckets that are not there, or not empty
    ("list-missing", ["bucket", "list", f"s3://{MISSING}"], ("NoSuchBucket", "bucket make")),
    ("list-no-bucket", ["bucket", "list", "s3://"], ("no bucket", "s3://BUCKET")),
    ("list-bad-name", ["bucket", "list", "s3://Bad_Name"], ("Bad_Name",)),
    ("remove-missing", ["bucket", "remove", MISSING], ("NoSuchBucket",)),
    ("remove-not-empty", ["bucket", "remove", "{bucket}"], ("not empty", "--force")),
    ("cost-missing", ["bucket", "cost", MISSING], ("NoSuchBucket",)),
    # paths: missing, a file, not writable
    ("put-missing", ["bucket", "put", "{tmp}/nothing", "s3://{bucket}/k"], ("does not exist",)),
    ("put-empty-path", ["bucket", "put", "", "s3://{bucket}/k"], ("path",)),
    ("put-to-missing", ["bucket", "put", "{tmp}/afile.txt", f"s3://{MISSING}/k"], ("NoSuch",)),
    ("get-missing-key", ["bucket", "get", "s3://{bucket}/nokey", "{tmp}/out"], ("nothing at",)),
    ("get-under-file", ["bucket", "get", "s3://{bucket}/a.txt", "{tmp}/afile.txt/x"], ("file",)),
    ("get-not-writable", ["bucket", "get", "s3://{bucket}/a.txt", f"{NOT_WRITABLE}/x"], ("",)),
    ("sync-missing", ["bucket", "sync", "{tmp}/nothing", "s3://{bucket}/p"], ("does not exist",)),
    ("sync-two-local", ["bucket", "sync", "{tmp}/full", "{tmp}/empty"], ("one local folder",)),
    ("sync-two-s3", ["bucket", "sync", "s3://{bucket}/a", "s3://{bucket}/b"], ("one local",)),
    ("sync-to-file", ["bucket", "sync", "s3://{bucket}/", "{tmp}/afile.txt"], ("file",)),
    # cleanup and its guards
    ("cleanup-unguarded", ["bucket", "cleanup"], ("only buckets s3lab made", "--made-by-s3lab")),
    ("cleanup-bad-age", ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "5x"], ("5x",)),
    # configure: keys of the wrong shape, swapped, profiles, endpoints
    (
        "key-notakey",
        [
            "configure",
            "--profile",
            "p",
            *(),
            "--access-key-id",
            "notakey",
            "--secret-access-key",
            "x",
        ],
        ("not an AWS access key id", "*akey"),
    ),
    (
        "key-secret-short",
        ["configure", "--profile", "p", "--access-key-id", AWS_KEY, "--secret-access-key", "short"],
        ("40 characters",),
    ),
    (
        "key-is-secret",
        [
            "configure",
            "--profile",
            "p",
            "--access-key-id",
            SECRET_IN_KEY,
            "--secret-access-key",
            AWS_SECRET,
        ],
        ("looks like a secret",),
    ),
    (
        "secret-is-key",
        ["configure", "--profile", "p", "--access-key-id", AWS_KEY, "--secret-access-key", AWS_KEY],
        ("looks like an access key id",),
    ),
    (
        "keys-swapped",
        [
            "configure",
            "--profile",
            "p",
            "--access-key-id",
            AWS_SECRET,
            "--secret-access-key",
            AWS_KEY,
        ],
        ("looks like a secret",),
    ),
    (
        "key-unicode",
        [
            "configure",
            "--profile",
            "p",
            "--access-key-id",
            "AKIAÄBATTERYTEST001",
            "--secret-access-key",
            AWS_SECRET,
        ],
        ("access key id",),
    ),
    ("key-alone", ["configure", "--access-key-id", AWS_KEY], ("go together",)),
    (
        "key-space",
        ["configure", "--access-key-id", AWS_KEY, "--secret-access-key", "a b"],
        ("spaces",),
    ),
    (
        "profile-space",
        ["configure", "--profile", "my profile", "--region", "us-west-2"],
        ("profile name",),
    ),
    ("profile-empty", ["configure", "--profile", "", "--region", "us-west-2"], ("profile name",)),
    (
        "endpoint-no-scheme",
        ["configure", "--endpoint-url", "s3.example.org"],
        ("https://s3.example.org",),
    ),
    (
        "endpoint-path",
        ["configure", "--endpoint-url", "https://s3.example.org/bucket"],
        ("path", "https://s3.example.org"),
    ),
    ("endpoint-ftp", ["configure", "--endpoint-url", "ftp://s3.example.org"], ("https://",)),
    ("output-typo", ["configure", "--output", "jsn"], ("json",)),
    ("configure-conflict", ["configure", "--sandbox", "--kopah"], ("--sandbox", "--kopah")),
    ("list-unknown-profile", ["configure", "list", "--profile", "nobody"], ("nobody",)),
    (
        "bucket-unknown-profile",
        ["bucket", "list", "--backend", "aws", "--profile", "nobody"],
        ("nobody",),
    ),
    ("backend-typo", ["bucket", "list", "--backend", "mooto"], ("moto",)),
    # sandbox, doctor, install: flags that cannot go together, unknown values
    ("sandbox-port-all", ["sandbox", "start", "--backend", "all", "--port", "1"], ("--port",)),
    ("sandbox-run-empty", ["sandbox", "run"], ("no command",)),
    ("sandbox-unknown", ["sandbox", "start", "--backend", "minio"], ("--help",)),
    ("doctor-backend", ["doctor", "--backend", "mooto"], ("--help",)),
    ("install-unknown", ["install", "awscli2"], ("--help",)),
    ("install-method", ["install", "awscli", "--method", "brew", "--dry-run"], ("brew",)),
    ("no-job", [], ("--help",)),
    ("unknown-job", ["buckets"], ("--help",)),
    ("unknown-verb", ["bucket", "delete", "x"], ("--help",)),
    ("unknown-flag", ["bucket", "list", "--recursive"], ("--help",)),
    # mounts: targets that are files, not empty, busy, not writable; conflicting flags
    ("mount-nothing", ["mount"], ("BUCKET", "DIR")),
    (
        "mount-conflict",
        ["mount", "{bucket}", "{tmp}/empty", "--read-only", "--allow-delete"],
        ("--read-only",),
    ),
    ("mount-not-empty", ["mount", "{bucket}", "{tmp}/full"], ("not empty",)),
    ("mount-file", ["mount", "{bucket}", "{tmp}/afile.txt"], ("is a file",)),
    ("mount-busy", ["mount", "{bucket}", "/proc"], ("/proc",)),
    ("mount-not-writable", ["mount", "{bucket}", f"{NOT_WRITABLE}/dir"], (NOT_WRITABLE,)),
    ("mount-missing-bucket", ["mount", MISSING, "{tmp}/new"], (MISSING,)),
    ("mount-bad-name", ["mount", "Bad_Name", "{tmp}/new"], ("Bad_Name",)),
    ("unmount-not-mounted", ["unmount", "{tmp}/empty"], ("not",)),
    ("unmount-missing", ["unmount", "{tmp}/nothing"], ("nothing",)),
    # numbers: out of range, not numbers, or values that would quietly do nothing
    ("count-zero", ["bucket", "name", "--count", "0"], ("--count", "1 to 1,000,000")),
    ("count-negative", ["bucket", "name", "--count", "-3"], ("--count", "out of range")),
    ("count-word", ["bucket", "name", "--count", "many"], ("not a whole number",)),
    ("count-float", ["bucket", "name", "--count", "2.5"], ("not a whole number",)),
    ("workers-zero", ["bucket", "copy", "s3://a", "s3://b", "--workers", "0"], ("1 to 64",)),
    ("workers-huge", ["bucket", "copy", "s3://a", "s3://b", "--workers", "5000"], ("1 to 64",)),
    ("port-zero", ["sandbox", "start", "--port", "0"], ("--port", "65,535")),
    ("port-big", ["sandbox", "start", "--port", "70000"], ("--port", "65,535")),
    ("port-word", ["sandbox", "start", "--port", "http"], ("not a whole number",)),
    ("start-timeout-nan", ["sandbox", "start", "--timeout", "nan"], ("--timeout", "seconds")),
    ("start-timeout-zero", ["sandbox", "start", "--timeout", "0"], ("--timeout",)),
    ("run-timeout-inf", ["sandbox", "run", "--timeout", "inf", "--", "true"], ("--timeout",)),
    ("mount-ttl-negative", ["mount", "{bucket}", "{tmp}/new", "--metadata-ttl", "-1"], ("ttl",)),
    ("mount-uid-negative", ["mount", "{bucket}", "{tmp}/new", "--uid", "-1"], ("user id",)),
    ("mount-gid-huge", ["mount", "{bucket}", "{tmp}/new", "--gid", str(2**32)], ("group id",)),
    ("mount-timeout-zero", ["mount", "{bucket}", "{tmp}/new", "--timeout", "0"], ("seconds",)),
    (
        "cleanup-age-huge",
        ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "99999999w"],
        ("99999999w",),
    ),
    ("cleanup-age-empty", ["bucket", "cleanup", "--made-by-s3lab", "--older-than", ""], ("age",)),
    ("env-attempts-zero", ["bucket", "list"], ("S3LAB_ATTEMPTS", "above 0")),
    ("env-connect-negative", ["bucket", "list"], ("S3LAB_CONNECT_TIMEOUT",)),
    ("env-read-nan", ["bucket", "list"], ("S3LAB_READ_TIMEOUT",)),
    ("env-read-word", ["bucket", "list"], ("S3LAB_READ_TIMEOUT",)),
    ("env-direct-io-word", ["bucket", "get", "s3://{bucket}/a", "{tmp}/o"], ("S3LAB_DIRECT_IO",)),
    # object keys S3 refuses (moto takes them all): refused before any request, on both
    (
        "key-long-ascii",
        ["bucket", "put", "{tmp}/afile.txt", "s3://{bucket}/" + "k" * 1025],
        ("1,025",),
    ),
    # 513 "é" are 513 characters, but 1,026 bytes in UTF-8: S3 counts bytes
    (
        "key-long-utf8",
        ["bucket", "put", "{tmp}/afile.txt", "s3://{bucket}/" + "é" * 513],
        ("1,026",),
    ),
    ("key-dotdot", ["bucket", "put", "{tmp}/afile.txt", "s3://{bucket}/up/../x"], ("'..'",)),
    ("key-dot", ["bucket", "put", "{tmp}/afile.txt", "s3://{bucket}/./x"], ("'.'",)),
    ("key-soap", ["bucket", "put", "{tmp}/afile.txt", "s3://{bucket}/soap"], ("soap",)),
    ("key-long-get", ["bucket", "get", "s3://{bucket}/" + "g" * 1100, "{tmp}/o"], ("1,100",)),
    ("key-long-sync", ["bucket", "sync", "{tmp}/full", "s3://{bucket}/" + "ü" * 600], ("1,200",)),
    ("key-dotdot-get", ["bucket", "get", "s3://{bucket}/../a.txt", "{tmp}/o"], ("'..'",)),
]
#: Cases whose environment is the mistake (the other cases run in the test's environment).
CASE_ENV = {
    "env-attempts-zero": {"S3LAB_ATTEMPTS": "0"},
    "env-connect-negative": {"S3LAB_CONNECT_TIMEOUT": "-1"},
    "env-read-nan": {"S3LAB_READ_TIMEOUT": "nan"},
    "env-read-word": {"S3LAB_READ_TIMEOUT": "soon"},
    "env-direct-io-word": {"S3LAB_DIRECT_IO": "maybe"},
}


def _api_put_missing(client: Any, tmp: Path) -> object:
    return s3lab.put(client, tmp / "nothing", f"s3://{BUCKET}/k", quiet=True)


API_CASES: list[tuple[str, Callable[[Any, Path], object], tuple[str, ...]]] = [
    ("api-put-missing", _api_put_missing, ("does not exist",)),
    (
        "api-get-missing",
        lambda c, t: transfer.get(c, f"s3://{BUCKET}/nokey", t / "o"),
        ("nothing",),
    ),
    ("api-sync-two-local", lambda c, t: transfer.sync(c, t / "full", t / "empty"), ("one local",)),
    ("api-make-bad", lambda c, t: s3lab.make_bucket(c, "Bad_Name"), ("lowercase",)),
    ("api-remove-missing", lambda c, t: s3lab.remove_bucket(c, MISSING), ("NoSuchBucket",)),
    ("api-usage-missing", lambda c, t: s3lab.usage(c, MISSING), ("NoSuchBucket",)),
    ("api-use-typo", lambda c, t: s3lab.use("mooto"), ("moto",)),
    ("api-resolve-typo", lambda c, t: backends.resolve("severs"), ("server",)),
    ("api-cleanup-unguarded", lambda c, t: buckets.cleanup(c), ("",)),
    ("api-unmount", lambda c, t: mount.unmount(t / "empty"), ("not",)),
    ("api-cost-missing", lambda c, t: cost.bucket_cost(c, MISSING), ("NoSuchBucket",)),
    (
        "api-copy-workers",
        lambda c, t: copy.copy_bucket(c, BUCKET, c, BUCKET, dst_prefix="x/", workers=0),
        ("1 to 64",),
    ),
    (
        "api-age-overflow",
        lambda c, t: buckets.cleanup(c, older_than="99999999999w"),
        ("older than",),
    ),
    (
        "api-put-long-key",
        lambda c, t: s3lab.put(c, t / "afile.txt", f"s3://{BUCKET}/{'é' * 600}", quiet=True),
        ("1,200 bytes",),
    ),
    ("api-get-dot-key", lambda c, t: transfer.get(c, f"s3://{BUCKET}/a/./b", t / "o"), ("'.'",)),
    (
        "api-sync-bad-prefix",
        lambda c, t: transfer.sync(c, t / "full", f"s3://{BUCKET}/../up"),
        ("'..'",),
    ),
]

# (id, shell pipeline): a reader that stops early. The writer must end quietly with 141.
PIPE_CASES = [
    ("pipe-names", "bucket name --count 200000 | head -1"),
    ("pipe-list", "bucket list | true"),
]

BACKENDS = ("moto", "server")
# The cases that send a request to S3: they run on both sandboxes, each with its own bucket. The
# others fail before any request (checked: a case here sends one, the others none), so the
# backend cannot change them: they run once. Pipe cases run in a child, so not counted.
REACHES_S3 = {
    "list-missing",
    "remove-missing",
    "remove-not-empty",
    "cost-missing",
    "put-to-missing",
    "get-missing-key",
    "get-under-file",
    "get-not-writable",
    "sync-to-file",
    "mount-not-empty",
    "mount-file",
    "mount-busy",
    "mount-not-writable",
    "mount-missing-bucket",
    "mount-bad-name",
    "list-bad-name",
    "api-get-missing",
    "api-remove-missing",
    "api-usage-missing",
    "api-cost-missing",
    "pipe-list",
}
# Cases that fail before any request, yet run on both sandboxes: the point of each is that the
# answer does not depend on the server (moto takes keys AWS refuses; s3lab must not).
EVERY_BACKEND = {name for name, _, _ in CLI_CASES if name.startswith("key-")} | {
    "api-put-long-key",
    "api-get-dot-key",
    "api-sync-bad-prefix",
}
ROWS: list[tuple[str, str, Any, tuple[str, ...]]] = (
    [(name, "cli", args, words) for name, args, words in CLI_CASES]
    + [(name, "api", call, words) for name, call, words in API_CASES]
    + [(name, "pipe", line, ()) for name, line in PIPE_CASES]
)
# Backend by backend: each one's bucket is made once (a module fixture set up again whenever
# the backend changes from one test to the next).
CASES = [
    pytest.param(backend, name, kind, what, words, id=f"{name}-{backend}")
    for backend in BACKENDS
    for name, kind, what, words in ROWS
    if name in REACHES_S3 or name in EVERY_BACKEND or backend == "server"
]


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes: what "no change" means."""
    found = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        rel = str(path.relative_to(root))
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def _s3(client: Any) -> tuple[list[str], list[tuple[str, int]], int]:
    names = sorted(b["Name"] for b in client.list_buckets()["Buckets"])
    objects = sorted((o.key, o.size) for o in buckets.iter_objects(client, BUCKET))
    uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return names, objects, len(uploads)


@pytest.fixture(scope="module", autouse=True)
def _one_botocore_loader() -> Iterator[None]:
    """One botocore data loader for every session this module makes, in-process commands too.

    Each new boto3 session otherwise parses botocore's endpoint and S3 model files again (about
    0.3 s per command on a loaded machine): most of a battery case's time. Sharing the parsed
    files is what one session making many clients does anyway.
    """
    loader = botocore.loaders.create_loader()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", lambda *_: loader)
        yield


@pytest.fixture(scope="module")
def battery_bucket(
    request: pytest.FixtureRequest, server: backends.Backend
) -> Iterator[tuple[str, Any]]:
    """``(backend, client)``: the bucket with two objects on that sandbox (moto or SeaweedFS)."""
    client = buckets.client_for(backends.resolve(request.param))
    if BUCKET not in [b["name"] for b in buckets.list_buckets(client)]:
        client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    client.put_object(Bucket=BUCKET, Key="dir/b.txt", Body=b"bb")
    yield request.param, client
    buckets.remove_bucket(client, BUCKET, force=True)


@contextlib.contextmanager
def _requests_sent() -> Iterator[list[str]]:
    """The names of the S3 operations sent while inside (by botocore, in this process)."""
    sent: list[str] = []
    original = botocore.endpoint.Endpoint.make_request

    def counting(self: Any, operation_model: Any, request_dict: Any) -> Any:
        sent.append(operation_model.name)
        return original(self, operation_model, request_dict)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.endpoint.Endpoint, "make_request", counting)
        yield sent


@pytest.mark.parametrize(
    ("battery_bucket", "name", "kind", "what", "words"), CASES, indirect=["battery_bucket"]
)
def test_bad_input(
    battery_bucket: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    kind: str,
    what: Any,
    words: tuple[str, ...],
) -> None:
    backend, client = battery_bucket
    monkeypatch.setenv("S3LAB_BACKEND", backend)
    (tmp_path / "afile.txt").write_text("a file\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x\n")
    aws = Path(os.environ["AWS_CONFIG_FILE"]).parent
    state = settings.home()
    before = (_tree(tmp_path), _tree(aws), _tree(state / "mounts"), _s3(client))
    RELIABILITY["cases"] += 1
    RELIABILITY_BY[backend]["cases"] += 1
    with _requests_sent() as sent:
        if kind == "cli":
            args = [a.replace("{tmp}", str(tmp_path)).replace("{bucket}", BUCKET) for a in what]
            assert_one_line_error(cli(*args, env=CASE_ENV.get(name)), *words)
        elif kind == "api":
            with pytest.raises(S3LabError) as caught:
                what(client, tmp_path)
            line = caught.value.one_line()
            assert "\n" not in line and " -- fix: " in line, line
            for word in words:
                assert word in line, line
        else:
            script = f"{sys.executable} -m s3lab.cli {what}; echo exit=${{PIPESTATUS[0]}} >&2"
            done = subprocess.run(
                ["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
            )
            assert done.stderr.strip() == "exit=141", done.stderr  # quiet, and not 0
    if kind != "pipe":  # the table's split between both backends and one must stay true
        assert bool(sent) == (name in REACHES_S3), (name, sent)
    after = (_tree(tmp_path), _tree(aws), _tree(state / "mounts"), _s3(client))
    assert after == before


def test_battery_is_big_enough() -> None:
    """The issue's bar: at least 150 cases across both sandboxes, with every class in."""
    assert len(CASES) + len(PARTIAL_CASES) + len(BROKEN_CONFIG_CASES) >= 150


def test_custom_endpoint_keys_are_accepted_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    done = cli(
        "configure",
        "--profile",
        "ceph",
        "--endpoint-url",
        "https://s3.example.org",
        "--access-key-id",
        "notakey",
        "--secret-access-key",
        "x",
    )
    assert done.returncode == 0, done.stderr
    assert "not have AWS's shape" in done.stdout and "notakey" not in done.stdout
    # An AWS-shaped pair for AWS is written without a note.
    done = cli(
        "configure",
        "--profile",
        "aws",
        "--access-key-id",
        AWS_KEY,
        "--secret-access-key",
        AWS_SECRET,
    )
    assert done.returncode == 0, done.stderr
    assert "shape" not in done.stdout


def test_debug_shows_the_traceback_and_the_line() -> None:
    plain = cli("bucket", "list", "--backend", "mooto")
    assert_one_line_error(plain, "moto")
    debug = cli("--debug", "bucket", "list", "--backend", "mooto")
    assert debug.returncode == plain.returncode
    assert "Traceback" in debug.stderr and debug.stderr.strip().endswith(plain.stderr.strip())


@pytest.mark.parametrize("battery_bucket", BACKENDS, indirect=True)
def test_make_never_claims_a_bucket_it_did_not_make(battery_bucket: tuple[str, Any]) -> None:
    """make on a bucket you already own succeeds, but does not tag it as s3lab's: cleanup
    would otherwise remove a bucket s3lab never made."""
    backend, client = battery_bucket
    if backend == "moto":
        pytest.skip(
            "moto answers a second CreateBucket in us-east-1 with 200, as AWS does: s3lab then "
            "tells an old bucket by its creation date (over a minute ago), and this module's "
            "bucket is seconds old"
        )
    done = cli("bucket", "make", BUCKET, env={"S3LAB_BACKEND": backend})
    assert done.returncode == 0, done.stderr
    assert buckets.bucket_tags(client, BUCKET) == {}
    RELIABILITY["cases"] += 1
    RELIABILITY_BY[backend]["cases"] += 1


@pytest.mark.parametrize("battery_bucket", ["server"], indirect=True)  # it checks signatures
def test_keys_never_appear_in_any_output_or_log(
    battery_bucket: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command, with --debug, on a profile whose (fake, key-shaped) keys are known."""
    key_id = "AKIA" + hashlib.sha256(b"s3lab-secrets-test").hexdigest().upper()[:16]
    secret = hashlib.sha256(b"s3lab-secret").hexdigest()[:36] + "Ab/+"
    box = backends.resolve("server")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "up.txt").write_text("up\n")
    profile = ["--backend", "aws", "--profile", "known"]
    commands = [
        [
            "configure",
            "--profile",
            "known",
            "--access-key-id",
            key_id,
            "--secret-access-key",
            secret,
            "--endpoint-url",
            str(box.endpoint_url),
            "--region",
            "us-east-1",
        ],
        ["configure", "list", "--profile", "known"],
        [
            "configure",
            "--profile",
            "known",
            "--access-key-id",
            secret,
            "--secret-access-key",
            key_id,
        ],
        [
            "configure",
            "--profile",
            "known",
            "--access-key-id",
            key_id.lower(),
            "--secret-access-key",
            secret[:20],
        ],
        ["doctor", "--profile", "known"],
        ["bucket", "list", *profile],
        ["bucket", "make", "battery-secret", *profile],
        ["bucket", "put", str(tmp_path / "up.txt"), f"s3://{BUCKET}/up.txt", *profile],
        ["bucket", "get", f"s3://{BUCKET}/a.txt", str(tmp_path / "a.txt"), *profile],
        ["bucket", "sync", str(tmp_path), f"s3://{BUCKET}/s", *profile],
        ["bucket", "remove", BUCKET, "--force", "--dry-run", *profile],
        ["bucket", "cost", BUCKET, *profile],
        ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "1d", "--dry-run", *profile],
        ["mount", BUCKET, str(tmp_path / "mnt"), "--profile", "known", "--read-only"],
    ]
    seen = []
    for command in commands:
        done = cli("--debug", *command, env={"S3LAB_BACKEND": "aws"})
        seen.append(done.stdout + done.stderr)
        if command[0] == "mount" and done.returncode == 0:
            mount.unmount(tmp_path / "mnt")
    logs = [p for p in settings.home().rglob("*.log") if "sandbox" not in p.parts]
    seen += [p.read_text(errors="replace") for p in logs]
    text = "\n".join(seen)
    assert "Traceback" in text  # --debug was on: the refused keys showed their tracebacks
    for value in (key_id, secret, key_id.lower(), secret[:20]):
        assert value not in text


# --- partial failures: what cannot be copied is skipped with a warning, the rest is copied ----

# (id, the backends that can hold its objects, objects under the case's prefix, what is in the
# local folder before, the words of each expected warning). An object body of None is none at
# all: SeaweedFS refuses (KeyTooLongError, InvalidRequest) or rewrites (a//b) some of these
# keys, so those cases run on moto, the server that stores whatever it is sent, as AWS stores
# a key with "..", or 1,000 bytes between two slashes.
BOTH = ("moto", "server")
DOWNLOADS: list[tuple[str, tuple[str, ...], dict[str, bytes], dict[str, str], list[str]]] = [
    ("file-and-folder", BOTH, {"a": b"a", "a/b": b"b"}, {}, ["another object's file"]),
    ("local-file-in-the-way", BOTH, {"sub/x.txt": b"x"}, {"sub": "mine\n"}, ["not a folder"]),
    ("local-folder-in-the-way", BOTH, {"name": b"n"}, {"name/keep.txt": "k\n"}, ["is a folder"]),
    ("two-in-the-way", BOTH, {"a": b"a", "a/b": b"b", "c/d": b"d"}, {"c": "c\n"}, ["file", "file"]),
    ("slash-with-data", ("moto",), {"x/": b"data"}, {}, ["ends in '/'"]),
    ("name-too-long", ("moto",), {"n" * 300: b"n"}, {}, ["300 bytes"]),
    ("dotdot", ("moto",), {"up/../../escaped": b"e"}, {}, ["'..'"]),
    ("empty-segment", ("moto",), {"d//e": b"d"}, {}, ["empty segment"]),
]
UPLOADS: list[tuple[str, str, list[str]]] = [
    ("broken-link", "link", ["broken symlink"]),
    ("fifo", "fifo", ["not a regular file"]),
    ("not-utf8", "name", ["not UTF-8"]),
    ("deep-key", "deep", ["1,024"]),
    ("unreadable", "unreadable", ["cannot be read (Permission denied)"]),
]
# Backend by backend (the outer loop), so that each one's bucket is made once.
PARTIAL_CASES = [
    case
    for b in BACKENDS
    for case in [
        *(pytest.param(b, "down", n, id=f"down-{n}-{b}") for n, on, *_ in DOWNLOADS if b in on),
        *(
            pytest.param(b, verb, name, id=f"{verb}-{name}-{b}")
            for name, *_ in UPLOADS
            for verb in ("up", "sync-up")
        ),
    ]
]


def _assert_partial(done: Any, warnings: list[str]) -> None:
    """Exit 1, one ``warning: skipped`` line per item (with its words), then the count."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    found = [line for line in lines if line.startswith("warning: skipped ")]
    assert len(found) == len(warnings), done.stderr
    for word in warnings:
        assert any(word in line for line in found), (word, found)
    assert lines[-1].startswith(f"error: {len(warnings)} "), lines[-1]
    assert "could not be copied" in lines[-1] and " -- fix: " in lines[-1]


def _odd_entry(folder: Path, kind: str) -> None:
    """One entry that cannot be uploaded, of ``kind``, in ``folder``."""
    if kind == "link":
        (folder / "link").symlink_to(folder / "nowhere")
    elif kind == "fifo":
        os.mkfifo(folder / "fifo")  # reading it would wait forever
    elif kind == "unreadable":  # write-only, even for root: the kernel enforces sysctl modes
        (folder / "secret").symlink_to("/proc/sys/vm/drop_caches")
    elif kind == "name":
        (folder / os.fsdecode(b"latin1-\xe9.txt")).write_bytes(b"x")  # not UTF-8
    else:  # five folders of 240 bytes: each name is fine, the key is 1,200+ bytes
        deep = folder.joinpath(*["d" * 240] * 5)
        deep.mkdir(parents=True)
        (deep / "f.txt").write_text("deep\n")


@pytest.mark.parametrize(
    ("battery_bucket", "verb", "name"), PARTIAL_CASES, indirect=["battery_bucket"]
)
def test_partial_failure_keeps_the_rest(
    battery_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str, name: str
) -> None:
    backend, client = battery_bucket
    monkeypatch.setenv("S3LAB_BACKEND", backend)
    prefix = f"partial/{verb}-{name}/"
    RELIABILITY["cases"] += 1
    RELIABILITY_BY[backend]["cases"] += 1
    try:
        if verb == "down":
            _, _, objects, before, warnings = next(d for d in DOWNLOADS if d[0] == name)
            for key, body in {**objects, "ok.txt": b"ok", "deeper/ok.txt": b"ok2"}.items():
                client.put_object(Bucket=BUCKET, Key=prefix + key, Body=body)
            target = tmp_path / "target"
            for rel, text in before.items():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_text(text)
            mine = _tree(target)
            _assert_partial(cli("bucket", "get", f"s3://{BUCKET}/{prefix}", str(target)), warnings)
            after = _tree(target)
            assert (target / "ok.txt").read_bytes() == b"ok"  # the rest was copied
            assert (target / "deeper" / "ok.txt").read_bytes() == b"ok2"
            assert {k: v for k, v in after.items() if k in mine} == mine  # nothing overwritten
            assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # nothing outside
        else:
            _, kind, warnings = next(u for u in UPLOADS if u[0] == name)
            source = tmp_path / "source"
            (source / "sub").mkdir(parents=True)
            (source / "ok.txt").write_text("ok\n")
            (source / "sub" / "ok2.txt").write_text("ok2\n")
            _odd_entry(source, kind)
            command = "put" if verb == "up" else "sync"
            _assert_partial(
                cli("bucket", command, str(source), f"s3://{BUCKET}/{prefix}"), warnings
            )
            keys = sorted(o.key for o in buckets.iter_objects(client, BUCKET, prefix))
            assert keys == [f"{prefix}ok.txt", f"{prefix}sub/ok2.txt"]
    finally:
        for obj in list(buckets.iter_objects(client, BUCKET, "partial/")):
            client.delete_object(Bucket=BUCKET, Key=obj.key)


# --- a learner's broken ~/.aws/config: every command gives the one line, or just works --------

BROKEN_CONFIG = "[default]\nregion = us-east-1\nthis line is broken\n[profile other]\n"
# Commands on a sandbox: they do not read the learner's AWS files, so they work as usual (or
# fail for their own reason, on one line); never a traceback, never the server's 500.
SANDBOX_COMMANDS = [
    ["bucket", "list"],
    ["bucket", "list", f"s3://{BUCKET}/"],
    ["bucket", "put", "{tmp}/afile.txt", f"s3://{BUCKET}/broken-config/a.txt"],
    ["bucket", "get", f"s3://{BUCKET}/a.txt", "{tmp}/o.txt"],
    ["bucket", "sync", "{tmp}/full", f"s3://{BUCKET}/broken-config/s"],
    ["bucket", "cost", BUCKET],
    ["bucket", "remove", MISSING],
    ["bucket", "cleanup", "--made-by-s3lab", "--older-than", "9w", "--dry-run"],
]
# Commands that read the learner's files: the one line, naming the file and the line.
READING_COMMANDS = [
    ["configure", "list"],
    ["configure", "--profile", "p", "--region", "us-west-2"],
    ["configure", "--sandbox"],
    ["bucket", "list", "--backend", "aws"],
    ["bucket", "make", "battery-broken-config", "--backend", "aws"],
    ["doctor"],
    ["check", "first-bucket", "--backend", "aws"],
]
BROKEN_CONFIG_CASES = [
    pytest.param(b, c, False, id=f"{'-'.join(c[:2])}-{i}-{b}")
    for b in BACKENDS
    for i, c in enumerate(SANDBOX_COMMANDS)
] + [
    pytest.param("server", c, True, id=f"reads-{'-'.join(c[:2])}-{i}")
    for i, c in enumerate(READING_COMMANDS)
]


@pytest.mark.parametrize(
    ("battery_bucket", "command", "reads"), BROKEN_CONFIG_CASES, indirect=["battery_bucket"]
)
def test_a_broken_aws_config(
    battery_bucket: Any, tmp_path: Path, command: list[str], reads: bool
) -> None:
    backend, client = battery_bucket
    config = tmp_path / "aws" / "config"
    config.parent.mkdir()
    config.write_text(BROKEN_CONFIG)
    (tmp_path / "afile.txt").write_text("a file\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x\n")
    env = {"S3LAB_BACKEND": backend, "AWS_CONFIG_FILE": str(config)}
    RELIABILITY["cases"] += 1
    RELIABILITY_BY[backend]["cases"] += 1
    try:
        done = cli(*[a.replace("{tmp}", str(tmp_path)) for a in command], env=env)
    finally:
        for obj in list(buckets.iter_objects(client, BUCKET, "broken-config/")):
            client.delete_object(Bucket=BUCKET, Key=obj.key)
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "500" not in text and "InternalError" not in text, text
    assert config.read_text() == BROKEN_CONFIG  # never "repaired" behind the learner's back
    if reads:
        assert done.returncode != 0, text
        if command[0] != "doctor":  # doctor's table names it in its first row
            assert_one_line_error(done)
        assert f"{config} is not a valid AWS ini file: line 3: 'this line is broken'" in text
    elif done.returncode != 0:
        assert_one_line_error(done, "NoSuchBucket")  # the only command here that should fail


def test_a_sandbox_started_in_a_learners_broken_environment(tmp_path: Path) -> None:
    """moto started under a broken ~/.aws/config, a missing profile and a foreign endpoint
    answered every request with 500; its server now starts with an environment of its own."""
    (tmp_path / "config").write_text(BROKEN_CONFIG)
    (tmp_path / "up.txt").write_text("up\n")
    env = {
        "S3LAB_HOME": str(tmp_path / "home"),
        "S3LAB_BACKEND": "moto",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "config"),
        "AWS_PROFILE": "nobody",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    started = run_cli("sandbox", "start", "--backend", "moto", env=env)
    try:
        assert started.returncode == 0, started.stderr
        box = sandbox.running("moto", tmp_path / "home")
        assert box is not None
        raw = Path(f"/proc/{box.pid}/environ").read_bytes().split(b"\0")
        passed = {item.split(b"=", 1)[0].decode() for item in raw if item.startswith(b"AWS_")}
        assert passed == {
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_EC2_METADATA_DISABLED",
        }
        for command in (
            ["bucket", "make", "battery-learner-env"],
            ["bucket", "put", str(tmp_path / "up.txt"), "s3://battery-learner-env/up.txt"],
            ["bucket", "cost", "battery-learner-env"],
            ["bucket", "remove", "battery-learner-env", "--force"],
        ):
            done = run_cli(*command, env=env)
            assert done.returncode == 0 and "500" not in done.stderr, (command, done.stderr)
            RELIABILITY["cases"] += 1
            RELIABILITY_BY["moto"]["cases"] += 1
    finally:
        run_cli("sandbox", "stop", "--backend", "moto", env=env)
