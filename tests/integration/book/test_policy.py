"""The book's IAM policy covers every notebook and no more; the book runs on a role's keys alone.

The policy is policy/s3lab-book-policy.json. One run of every notebook with ``backend="aws"``,
as on a VM whose only credentials are an instance role: no ``~/.aws`` files at all
(``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` name files that do not exist), no
profile, no keys in the environment; the role's keys and the region from the IMDSv2 stand-in.
The endpoint reaches the run in the environment only (``AWS_ENDPOINT_URL``): see
:func:`s3lab.sandbox.imds.role_only_vm` for why.

The run is on SeaweedFS, where the role's key may do no more than the policy allows, and goes
through a recording proxy (tests/support/recorder.py: it sees the ``!aws`` commands' and the
mount programs' requests as well as boto3's). So every notebook passes as the role, and each
recorded request is mapped to its S3 operation with botocore's service model (method, path
depth, query keys), then to the IAM actions that allow it and the ARNs they act on. Every action
is allowed by the policy, on that ARN, and the policy allows no action the book does not use
(apart from :data:`ALSO_ALLOWED`, with the reason). A policy with one thing taken out failing a
run: test_policy_enforced.py (a module of its own, so that another test worker runs it).
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from s3lab import backends, notebooks, settings
from s3lab.sandbox import imds
from tests.support.recorder import Recorder

POLICY = notebooks.POLICY

#: Operations whose IAM action is not ``s3:<operation name>``.
ACTIONS = {
    "ListBuckets": ["s3:ListAllMyBuckets"],
    "ListObjects": ["s3:ListBucket"],
    "ListObjectsV2": ["s3:ListBucket"],
    "HeadBucket": ["s3:ListBucket"],
    "HeadObject": ["s3:GetObject"],
    "ListObjectVersions": ["s3:ListBucketVersions"],
    "DeleteObjects": ["s3:DeleteObject"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"],
    "CopyObject": ["s3:GetObject", "s3:PutObject"],
    "ListMultipartUploads": ["s3:ListBucketMultipartUploads"],
    "ListParts": ["s3:ListMultipartUploadParts"],
    "GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "GetCallerIdentity": [],  # needs no permission: any valid credentials may ask who they are
}

#: Allowed though no recorded request names it, and why.
ALSO_ALLOWED = {
    "s3:DeleteObjectVersion": (
        "removing a versioned bucket (s3lab bucket remove --force, chapter 40) deletes old "
        "versions by id: the request is a DeleteObjects, the permission is DeleteObjectVersion"
    ),
}

#: Every bucket the book makes starts with this, so the policy names only these buckets.
BUCKETS = "s3lab-"


@cache
def _s3_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("s3")


def s3_operation(method: str, url: str, headers: dict[str, str]) -> str:
    """The S3 operation a path-style request is, from botocore's model of S3."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    depth = 0 if path in ("", "/") else (1 if "/" not in path.strip("/") else 2)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    copy = any(name.lower() == "x-amz-copy-source" for name in headers)
    best: tuple[int, str] | None = None
    model = _s3_model()
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri_path, _, uri_query = http["requestUri"].partition("?")
        uri_depth = 0 if uri_path == "/" else (2 if "{Key+}" in uri_path else 1)
        if (
            http["method"] != method
            or uri_depth != depth
            or ("Copy" in name) != copy
            or model.operation_model(name).deprecated  # PutBucketLifecycle: the same request
        ):
            continue
        required = dict(parse_qsl(uri_query, keep_blank_values=True))
        required.pop("x-id", None)
        shape = model.operation_model(name).input_shape
        for member in getattr(shape, "required_members", []):  # uploadId, versionId...
            if shape.members[member].serialization.get("location") == "querystring":
                required.setdefault(shape.members[member].serialization["name"], "")
        if all(
            key in query and (not value or query[key] == value) for key, value in required.items()
        ):
            score = len(required)
            if best is None or score > best[0]:
                best = (score, name)
    if best is None:
        raise ValueError(f"no S3 operation for {method} {url}")
    return best[1]


def operation(entry: dict[str, Any]) -> str:
    """The operation of one recorded request (S3 or STS)."""
    headers = entry["headers"]
    auth = headers.get("Authorization", "") + entry["url"]
    if "/sts/aws4_request" in auth or "%2Fsts%2Faws4_request" in auth:
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            import base64

            body = base64.b64decode(body).decode()
        return dict(parse_qsl(body))["Action"]
    return s3_operation(entry["method"], entry["url"], headers)


def actions_of(operations: set[str]) -> set[str]:
    """The IAM actions that allow these operations."""
    return {action for name in operations for action in ACTIONS.get(name, [f"s3:{name}"])}


def allowed_actions(policy: dict[str, Any]) -> list[str]:
    """Every action (or pattern) the policy's Allow statements name."""
    found = []
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            named = statement["Action"]
            found.extend([named] if isinstance(named, str) else named)
    return found


def check(policy: dict[str, Any], used: set[str]) -> tuple[set[str], set[str]]:
    """What the policy misses of ``used``, and what it allows beyond it (and ALSO_ALLOWED)."""
    patterns = allowed_actions(policy)
    missing = {a for a in used if not any(fnmatch.fnmatchcase(a, p) for p in patterns)}
    extra = {p for p in patterns if p not in used and p not in ALSO_ALLOWED}
    return missing, extra


def run_as_role(
    policy: dict[str, Any],
    tmp: Path,
    folder: Path | None = None,
    record: list[dict[str, Any]] | None = None,
) -> notebooks.Run:
    """Run the notebooks in ``folder`` (default: the book's) as a role holding ``policy``.

    On a SeaweedFS of its own, where the role's key may do only what ``policy`` allows; with
    ``record``, through recording proxies (S3 and the STS helper), whose entries go in it.
    """
    with imds.role_only_vm(policy, tmp / "vm") as vm, pytest.MonkeyPatch.context() as env:
        for variable in (*settings.SANDBOX_SETS, *settings.SANDBOX_CLEARS, *vm.unset):
            env.delenv(variable, raising=False)
        for variable, value in vm.env.items():
            env.setenv(variable, value)
        if record is None:
            return notebooks.run("aws", out=tmp / "out", folder=folder)
        with (
            Recorder(vm.env["AWS_ENDPOINT_URL"]) as s3,
            Recorder(vm.env["AWS_ENDPOINT_URL_STS"]) as sts,
        ):
            env.setenv("AWS_ENDPOINT_URL", s3.url)
            env.setenv("AWS_ENDPOINT_URL_STS", sts.url)
            done = notebooks.run("aws", out=tmp / "out", folder=folder)
        record.extend([*s3.entries, *sts.entries])
        return done


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, Any]], notebooks.Run]:
    """Every notebook, run once as the book's role on the enforcing server: requests and run.

    As on a role-only VM: no AWS files, no profile, the instance role's keys and region from
    the IMDSv2 stand-in (rclone, in the mount chapters, takes the role's keys from it too).
    """
    tmp = tmp_path_factory.mktemp("policy-run")
    entries: list[dict[str, Any]] = []
    done = run_as_role(notebooks.book_policy(), tmp, record=entries)
    assert not (tmp / "vm" / "no-aws-files").exists(), "the run wrote AWS files a VM does not have"
    return entries, done


def _every_notebook_ran(done: notebooks.Run) -> None:
    assert done.ok, "\n".join(notebooks.table(done.results))
    # The Kopah chapter rehearses on a local Ceph by design: `notebooks run` says it skipped it.
    assert {r.notebook for r in done.results if r.skipped} == {"85_kopah.ipynb"}
    assert [r.notebook for r in done.results] == [p.name for p in notebooks.notebooks_in()]


@pytest.mark.integration
def test_every_notebook_runs_as_the_role_on_a_server_that_enforces_the_policy(
    recorded: tuple[list[dict[str, Any]], notebooks.Run],
) -> None:
    _every_notebook_ran(recorded[1])


def test_policy_is_valid_json_with_the_shape_iam_expects() -> None:
    policy = json.loads(POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Resource"], statement
        assert all(action.startswith("s3:") for action in statement["Action"]), statement


def test_checker_finds_a_missing_action() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    assert check(policy, {"s3:GetObject", "s3:PutObject"}) == ({"s3:PutObject"}, set())
    wide = {"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}
    assert check(wide, {"s3:GetObject"}) == (set(), {"s3:*"})


def test_mapping_of_requests_to_operations() -> None:
    assert s3_operation("GET", "http://h/", {}) == "ListBuckets"
    assert s3_operation("PUT", "http://h/b", {}) == "CreateBucket"
    assert s3_operation("GET", "http://h/b?list-type=2&prefix=", {}) == "ListObjectsV2"
    assert s3_operation("PUT", "http://h/b/k/x.txt", {}) == "PutObject"
    assert s3_operation("PUT", "http://h/b/k", {"x-amz-copy-source": "b/j"}) == "CopyObject"
    assert s3_operation("POST", "http://h/b/k?uploads", {}) == "CreateMultipartUpload"
    assert s3_operation("DELETE", "http://h/b/k?uploadId=1", {}) == "AbortMultipartUpload"
    assert s3_operation("PUT", "http://h/b?versioning", {}) == "PutBucketVersioning"
    assert s3_operation("DELETE", "http://h/b/k", {}) == "DeleteObject"
    assert s3_operation("POST", "http://h/b?delete", {}) == "DeleteObjects"
    # the same request as the deprecated PutBucketLifecycle: the current name is the one IAM uses
    assert s3_operation("PUT", "http://h/b?lifecycle", {}) == "PutBucketLifecycleConfiguration"


@pytest.mark.integration
def test_policy_allows_every_action_the_book_uses_and_no_more(
    recorded: tuple[list[dict[str, Any]], notebooks.Run],
) -> None:
    operations = {operation(entry) for entry in recorded[0]}
    assert {"CreateBucket", "PutObject", "GetCallerIdentity"} <= operations  # the !aws ones too
    used = actions_of(operations)
    policy = json.loads(POLICY.read_text())
    missing, extra = check(policy, used)
    assert not missing, f"the notebooks use {sorted(missing)}: add them to {POLICY.name}"
    assert not extra, f"{POLICY.name} allows {sorted(extra)} that no notebook uses"
    for action in sorted(used):  # and the check notices any one of them taken out
        fewer = {
            "Statement": [
                {**statement, "Action": [a for a in statement["Action"] if a != action]}
                for statement in policy["Statement"]
            ]
        }
        assert check(fewer, used)[0] == {action}


#: Operations on a bucket whose permission is about its objects.
OBJECT_LEVEL = {"DeleteObjects"}


def needs(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, ARN) pairs one recorded request needs the policy to allow."""
    name = operation(entry)
    path = unquote(urlsplit(entry["url"]).path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket:
        return [(action, "*") for action in ACTIONS.get(name, [f"s3:{name}"])]
    if name == "CopyObject":
        source = next(v for k, v in entry["headers"].items() if k.lower() == "x-amz-copy-source")
        source = unquote(source).lstrip("/").split("?")[0]
        return [
            ("s3:GetObject", f"arn:aws:s3:::{source}"),
            ("s3:PutObject", f"arn:aws:s3:::{path}"),
        ]
    if name in OBJECT_LEVEL:
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            import base64

            body = base64.b64decode(body).decode()
        keys = re.findall(r"<Key>([^<]*)</Key>", body) or ["*"]
        return [(a, f"arn:aws:s3:::{bucket}/{k}") for a in actions_of({name}) for k in keys]
    arn = f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"
    return [(action, arn) for action in actions_of({name})]


def check_requests(policy: dict[str, Any], wanted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (action, ARN) pairs no Allow statement of ``policy`` allows, as IAM matches them."""

    def allows(statement: dict[str, Any], action: str, arn: str) -> bool:
        names = statement["Action"]
        resources = statement["Resource"]
        names = [names] if isinstance(names, str) else names
        resources = [resources] if isinstance(resources, str) else resources
        return (
            statement["Effect"] == "Allow"
            and any(fnmatch.fnmatchcase(action, n) for n in names)
            and any(fnmatch.fnmatchcase(arn, r) for r in resources)
        )

    return [
        (action, arn)
        for action, arn in wanted
        if not any(allows(statement, action, arn) for statement in policy["Statement"])
    ]


def test_the_resource_check_matches_arns_as_iam_does() -> None:
    policy = json.loads(POLICY.read_text())
    fine = [
        ("s3:ListAllMyBuckets", "*"),
        ("s3:CreateBucket", "arn:aws:s3:::s3lab-run-1"),
        ("s3:PutObject", "arn:aws:s3:::s3lab-run-1/data/a.txt"),
    ]
    assert check_requests(policy, fine) == []
    wrong = [
        ("s3:CreateBucket", "arn:aws:s3:::first-bucket-20261203-abcdef"),  # not s3lab-*
        ("s3:PutObject", "arn:aws:s3:::s3lab-run-1"),  # an object action on the bucket
    ]
    assert check_requests(policy, wrong) == wrong
    copy = {
        "method": "PUT",
        "url": "http://h/s3lab-b/new",
        "headers": {"x-amz-copy-source": "s3lab-a/old"},
    }
    assert needs(copy) == [
        ("s3:GetObject", "arn:aws:s3:::s3lab-a/old"),
        ("s3:PutObject", "arn:aws:s3:::s3lab-b/new"),
    ]


@pytest.mark.integration
def test_every_request_is_allowed_on_the_bucket_or_object_it_touched(
    recorded: tuple[list[dict[str, Any]], notebooks.Run],
) -> None:
    """Each recorded request's action, on its ARN, matches an Allow statement's Resource."""
    wanted = sorted({pair for entry in recorded[0] for pair in needs(entry)})
    assert any("/" in arn for _, arn in wanted), "no object ARN was recorded"
    refused = check_requests(json.loads(POLICY.read_text()), wanted)
    assert refused == [], f"{POLICY.name} does not allow these: {refused[:10]}"


@pytest.mark.integration
def test_every_bucket_the_book_touches_is_one_the_policy_names(
    recorded: tuple[list[dict[str, Any]], notebooks.Run],
) -> None:
    touched = {unquote(urlsplit(entry["url"]).path).split("/")[1] for entry in recorded[0]}
    assert {name for name in touched if name and not name.startswith(BUCKETS)} == set()
    resources = [s["Resource"] for s in json.loads(POLICY.read_text())["Statement"]]
    assert resources == ["*", f"arn:aws:s3:::{BUCKETS}*", f"arn:aws:s3:::{BUCKETS}*/*"]


def test_a_refused_request_anywhere_in_a_notebook_is_found() -> None:
    import nbformat

    said = "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("!aws s3 cp a s3://b/a")]
    assert notebooks.denied(nb) == ""
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=f"upload failed\n{said}\n")
    ]
    assert notebooks.denied(nb) == said


def test_an_endpoint_a_person_set_stays_when_going_to_aws_and_the_sandbox_s_goes() -> None:
    from s3lab import sandbox

    own = {"AWS_ENDPOINT_URL": "https://vpce.example", "S3LAB_BACKEND": "aws"}
    backends.clear_for(backends.Backend("aws"), own)
    assert own["AWS_ENDPOINT_URL"] == "https://vpce.example"
    for mark in ({"S3LAB_BACKEND": "moto"}, {"AWS_ACCESS_KEY_ID": sandbox.FAKE_ACCESS_KEY_ID}):
        sandboxed = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", **mark}
        backends.clear_for(backends.Backend("aws"), sandboxed)
        assert "AWS_ENDPOINT_URL" not in sandboxed
