"""Buckets on both sandboxes: naming rules, make in two regions, copy, remove --force, cleanup.

Every test makes its own generated bucket names, so tests never see each other's buckets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from s3lab import buckets
from s3lab.buckets import cost, names, transfer
from s3lab.errors import AWS_ERRORS, BucketError, CredentialsError, UsageError
from tests.support import assert_one_line_error, cli, run_cli

# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "example"), names.NAME_RULES, ids=[r[1] for r in names.NAME_RULES]
)
def test_every_naming_rule_has_a_failing_example(rule: str, example: str) -> None:
    assert names.validate(example) == f"must {rule}"


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my.data.2024",
        "1-2-3",
        "xn-data",
        "data-s3",
        "192.168.5.4.data",
        "data-and",
    ],
)
def test_valid_names_pass(name: str) -> None:
    assert names.validate(name) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 64, "3 to 63"),
        ("my_bucket", "lowercase"),
        ("Data", "lowercase"),
        ("data.", "end with"),
        ("sthree-configurator-x", "sthree-"),
        ("10.0.0.1", "IP address"),
    ],
)
def test_more_broken_names(name: str, rule: str) -> None:
    assert rule in (names.validate(name) or "")


def test_the_seed_name_is_invalid_and_the_generated_one_is_valid() -> None:
    seed = "icesat-II-deform-01012024-U6837154"
    assert "lowercase" in (names.validate(seed) or "")
    name = names.unique_name(seed, today=dt.date(2024, 1, 1))
    assert name.startswith("s3lab-icesat-ii-deform-01012024-u6837154-20240101-")
    assert names.validate(name) is None


def test_every_name_starts_as_the_books_policy_allows_unless_told_otherwise() -> None:
    """The book's IAM policy allows buckets s3lab-*: a name an exercise's text makes is one."""
    assert names.unique_name("first-bucket").startswith("s3lab-first-bucket-")
    assert names.unique_name("s3lab-first-first-bucket").startswith("s3lab-first-first-bucket-")
    assert names.unique_name().startswith("s3lab-2")  # the default prefix is the start itself
    assert names.unique_name("Buckets-CLI", book_start=False).startswith("buckets-cli-")
    assert names.unique_name("x" * 80).startswith("s3lab-xxx")
    assert cli("bucket", "name", "--prefix", "proj").stdout.startswith("s3lab-proj-")
    bare = cli("bucket", "name", "--prefix", "proj", "--no-s3lab-start").stdout
    assert bare.startswith("proj-") and names.validate(bare.strip()) is None


@pytest.mark.parametrize(
    ("prefix", "cleaned"),
    [
        ("My_Project", "my-project"),
        ("--x--", "x"),
        ("sthree", "b-sthree"),
        ("", "s3lab"),
        ("Ü", "s3lab"),
    ],
)
def test_prefixes_are_cleaned(prefix: str, cleaned: str) -> None:
    assert names.clean_prefix(prefix) == cleaned
    assert names.validate(names.unique_name(prefix)) is None


def test_long_prefix_still_gives_a_valid_name() -> None:
    name = names.unique_name("p" * 80)
    assert len(name) <= 63 and names.validate(name) is None


def test_cli_validate_exits_1_with_the_rule_and_0_when_valid() -> None:
    # end to end: the real command, in a child process
    bad = run_cli("bucket", "validate", "icesat-II-deform-01012024-U6837154")
    assert bad.returncode == 1 and "lowercase" in bad.stdout, bad
    good = cli("bucket", "validate", "icesat-ii-deform-01012024-u6837154")
    assert good.returncode == 0 and "valid" in good.stdout, good


def test_cli_name_generates_valid_names_from_a_messy_prefix() -> None:
    result = cli("bucket", "name", "--prefix", "ICESat II", "--count", "3")
    made = result.stdout.split()
    assert result.returncode == 0 and len(set(made)) == 3, result
    assert all(n.startswith("s3lab-icesat-ii-") and names.validate(n) is None for n in made)


# --- make ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_make_in_a_region_and_tag(lab, region: str) -> None:
    client = lab.client(region_name=region)
    name = buckets.make_bucket(client, names.unique_name("region"), region, owner="tester")
    try:
        location = client.get_bucket_location(Bucket=name).get("LocationConstraint")
        if lab.name == "moto":  # moto keeps the region, and would refuse a wrong constraint
            assert location == (None if region == "us-east-1" else region)
        else:
            print(f"SeaweedFS ignores LocationConstraint (it answered {location!r}); made {name}")
        tags = buckets.bucket_tags(client, name)
        assert tags["made-by"] == "s3lab" and tags["owner"] == "tester"
        assert tags["created"].startswith(dt.datetime.now(dt.UTC).strftime("%Y-%m-"))
        # Making it again is fine (BucketAlreadyOwnedByYou, or 200 in us-east-1), tags kept.
        assert buckets.make_bucket(client, name, region, owner="someone-else") == name
        assert buckets.bucket_tags(client, name)["owner"] == "tester"
    finally:
        buckets.remove_bucket(client, name, force=True)


def test_moto_refuses_the_wrong_constraint_that_make_avoids(lab) -> None:
    if lab.name != "moto":
        pytest.skip("SeaweedFS accepts any LocationConstraint, so only moto shows the trap")
    client = lab.client(region_name="us-east-1")
    with pytest.raises(ClientError, match="InvalidLocationConstraint"):
        client.create_bucket(
            Bucket=names.unique_name("trap"),
            CreateBucketConfiguration={"LocationConstraint": "us-east-1"},
        )
    west = lab.client(region_name="eu-west-1")
    with pytest.raises(ClientError, match="IllegalLocationConstraint"):
        west.create_bucket(Bucket=names.unique_name("trap"))


def test_a_name_taken_by_another_account_offers_a_generated_one(lab) -> None:
    client = lab.client()
    with Stubber(client) as stub:
        stub.add_client_error("create_bucket", "BucketAlreadyExists", http_status_code=409)
        with pytest.raises(BucketError) as caught:
            buckets.make_bucket(client, "mybucket")
    assert "taken" in caught.value.message and "global" in caught.value.message
    offered = caught.value.hint.rsplit(" ", 1)[-1]
    assert offered.startswith("s3lab-mybucket-") and names.validate(offered) is None


def test_cli_make_refuses_an_invalid_name_before_any_request(lab) -> None:
    result = cli("bucket", "make", "Bad_Name", "--backend", lab.name)
    assert_one_line_error(result, "not a valid bucket name", "s3lab bucket name")


# --- list, put, get, sync ------------------------------------------------------------------------


@pytest.fixture
def bucket(lab):
    client = buckets.client_for(lab)
    name = buckets.make_bucket(client, names.unique_name("test"))
    yield client, name
    buckets.remove_bucket(client, name, force=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("engine", ["crt", "classic"])
def test_put_get_sync_round_trip(bucket, tmp_path: Path, engine: str) -> None:
    client, name = bucket
    source = tmp_path / "source"
    (source / "deep" / "er").mkdir(parents=True)
    (source / "a.txt").write_text("a\n")
    (source / "deep" / "b.bin").write_bytes(os.urandom(5000))
    (source / "deep" / "er" / "c.txt").write_text("c\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(transfer.MULTIPART_THRESHOLD + 1024 * 1024))

    plan = transfer.put(client, source, f"s3://{name}/data/", quiet=True, engine=engine)
    assert sorted(k for _, k in plan.pairs) == [
        "data/a.txt",
        "data/deep/b.bin",
        "data/deep/er/c.txt",
    ]
    transfer.put(client, big, f"s3://{name}/big.bin", quiet=True, engine=engine)
    etag = client.head_object(Bucket=name, Key="big.bin")["ETag"]
    assert etag.strip('"').endswith("-2"), f"not a multipart upload: {etag}"

    back = tmp_path / "back"
    transfer.get(client, f"s3://{name}/data/", back, quiet=True, engine=engine)
    assert _tree(back) == _tree(source)
    transfer.get(client, f"s3://{name}/big.bin", tmp_path / "big.copy", quiet=True, engine=engine)
    assert (tmp_path / "big.copy").read_bytes() == big.read_bytes()

    # sync: nothing to do after a put; a new file and a changed one go up; dry run copies nothing
    assert transfer.sync(client, source, f"s3://{name}/data", quiet=True).pairs == []
    (source / "new.txt").write_text("new\n")
    (source / "a.txt").write_text("a changed\n")
    dry = transfer.sync(client, source, f"s3://{name}/data", dry_run=True)
    assert sorted(k for _, k in dry.pairs) == ["data/a.txt", "data/new.txt"]
    assert buckets.usage(client, name, "data/").objects == 3
    done = transfer.sync(client, source, f"s3://{name}/data", quiet=True, engine=engine)
    assert len(done.pairs) == 2 and done.skipped == 2
    assert transfer.sync(client, f"s3://{name}/data", back, quiet=True).pairs != []
    assert _tree(back) == _tree(source)


def _cached_bytes(path: Path) -> int:
    """How much of ``path`` the kernel's page cache holds (util-linux's fincore)."""
    said = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(said.stdout.strip())


# Sizes where the CRT must fall back for some part: none (aligned parts), the one short part,
# a last part not a multiple of the page, and an empty object.
DIRECT_SIZES = [0, 4097, 2 * transfer.MULTIPART_THRESHOLD, 2 * transfer.MULTIPART_THRESHOLD + 4095]


def test_a_download_past_the_page_cache_is_the_same_file_and_not_in_the_cache(
    bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, name = bucket
    sent = {size: os.urandom(size) for size in DIRECT_SIZES}
    for size, data in sent.items():
        client.put_object(Bucket=name, Key=f"k{size}", Body=data)
    cached = {}
    for choice in ("on", "off"):
        monkeypatch.setenv("S3LAB_DIRECT_IO", choice)
        for size, data in sent.items():
            back = tmp_path / f"{choice}-{size}"
            transfer.get(client, f"s3://{name}/k{size}", back, quiet=True, engine="crt")
            cached[choice, size] = _cached_bytes(back)
            assert back.read_bytes() == data, f"S3LAB_DIRECT_IO={choice}, {size} bytes"
    aligned = 2 * transfer.MULTIPART_THRESHOLD
    # the aligned parts went past the cache; through it, the whole file is there
    assert cached["on", aligned] == 0, cached
    assert cached["off", aligned] == aligned, cached


def test_cli_list_put_sync_dry_run(bucket, tmp_path: Path, lab) -> None:
    _, name = bucket
    # the put runs end to end (a child process with no terminal: no progress bar)
    (tmp_path / "one.txt").write_text("12345")
    (tmp_path / "two.txt").write_text("1234567890")
    put = run_cli("bucket", "put", str(tmp_path), f"s3://{name}/", "--backend", lab.name)
    assert put.returncode == 0 and "uploaded 2 files" in put.stdout, put
    assert "Traceback" not in put.stderr and "\r" not in put.stderr  # no bar without a terminal
    listing = cli("bucket", "list", f"s3://{name}", "--backend", lab.name)
    assert listing.returncode == 0, listing
    assert "one.txt" in listing.stdout and "total: 2 objects, 15 B" in listing.stdout
    buckets_list = cli("bucket", "list", "--backend", lab.name)
    assert name in buckets_list.stdout
    (tmp_path / "three.txt").write_text("3")
    dry = cli("bucket", "sync", str(tmp_path), f"s3://{name}", "--dry-run", "--backend", lab.name)
    assert dry.returncode == 0 and "(dry run) upload:" in dry.stdout and "three.txt" in dry.stdout
    assert "one.txt" not in dry.stdout
    assert buckets.usage(bucket[0], name).objects == 2


def test_get_of_a_missing_prefix_is_one_line(bucket, tmp_path: Path, lab) -> None:
    _, name = bucket
    result = cli(
        "bucket", "get", f"s3://{name}/nothing/", str(tmp_path / "x"), "--backend", lab.name
    )
    assert_one_line_error(result, "nothing at")
    assert not (tmp_path / "x").exists()


# --- remove --------------------------------------------------------------------------------------


def _fill(client, name: str, count: int, prefix: str = "k/") -> None:
    def put(i: int) -> None:
        client.put_object(Bucket=name, Key=f"{prefix}{i:05d}", Body=b"x" * 10)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def test_remove_without_force_refuses_with_counts(bucket, lab) -> None:
    client, name = bucket
    _fill(client, name, 3)
    result = cli("bucket", "remove", name, "--backend", lab.name)
    assert_one_line_error(result, "not empty", "3 objects", "30 bytes", "--force")
    assert buckets.usage(client, name).objects == 3  # nothing destroyed


def test_remove_force_deletes_versions_markers_and_uploads(lab) -> None:
    client = buckets.client_for(lab)
    name = buckets.make_bucket(client, names.unique_name("versioned"))
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two", b"three"):
        client.put_object(Bucket=name, Key="doc.txt", Body=body)
    client.put_object(Bucket=name, Key="gone.txt", Body=b"x")
    client.delete_object(Bucket=name, Key="gone.txt")  # leaves a delete marker
    upload = client.create_multipart_upload(Bucket=name, Key="half.bin")
    client.upload_part(
        Bucket=name, Key="half.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100
    )
    before = client.list_object_versions(Bucket=name)
    assert len(before.get("DeleteMarkers", [])) == 1 and len(before["Versions"]) == 4

    dry = buckets.remove_bucket(client, name, force=True, dry_run=True)
    assert (dry.objects, dry.markers, dry.uploads, dry.removed) == (5, 1, 1, False)
    assert len(client.list_object_versions(Bucket=name)["Versions"]) == 4

    emptied = buckets.empty_bucket(client, name)
    assert (emptied.objects, emptied.markers, emptied.uploads) == (5, 1, 1)
    after = client.list_object_versions(Bucket=name)
    assert not after.get("Versions") and not after.get("DeleteMarkers")
    assert not client.list_multipart_uploads(Bucket=name).get("Uploads")

    result = cli("bucket", "remove", name, "--force", "--backend", lab.name)
    assert result.returncode == 0, result
    assert name not in [b["name"] for b in buckets.list_buckets(client)]


def test_aws_rb_force_leaves_versions_that_s3lab_removes(lab) -> None:
    """The aws command's help says versioned objects are not deleted; show it, then fix it."""
    if lab.name == "server":
        pytest.skip("SeaweedFS deletes a versioned bucket even with versions left in it")
    client = buckets.client_for(lab)
    name = buckets.make_bucket(client, names.unique_name("rb"))
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=name, Key="a", Body=b"1")
    client.put_object(Bucket=name, Key="a", Body=b"2")
    env = {**os.environ, **lab.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    rb = subprocess.run(
        ["aws", "s3", "rb", f"s3://{name}", "--force"], env=env, capture_output=True, text=True
    )
    assert rb.returncode != 0 and "BucketNotEmpty" in rb.stderr, rb
    assert buckets.remove_bucket(client, name, force=True).removed


def test_interrupted_remove_finishes_when_run_again(lab, monkeypatch: pytest.MonkeyPatch) -> None:
    client = buckets.client_for(lab)
    name = buckets.make_bucket(client, names.unique_name("interrupted"))
    _fill(client, name, 2500)
    calls = []

    def interrupt(batch: list[dict]) -> None:  # before each DeleteObjects
        calls.append(len(batch))
        if len(calls) > 1:
            raise KeyboardInterrupt  # as if Ctrl-C came after the first DeleteObjects

    monkeypatch.setattr(buckets, "before_batch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        buckets.remove_bucket(client, name, force=True)
    monkeypatch.setattr(buckets, "before_batch", None)
    left = buckets.usage(client, name).objects
    assert 0 < left < 2500, f"{left} objects left after {calls}"
    result = cli("bucket", "remove", name, "--force", "--backend", lab.name)
    assert result.returncode == 0 and f"deleted {left} objects" in result.stdout, result
    assert name not in [b["name"] for b in buckets.list_buckets(client)]


def test_remove_a_missing_bucket_is_one_line(lab) -> None:
    result = cli("bucket", "remove", names.unique_name("missing"), "--force", "--backend", lab.name)
    assert_one_line_error(result, "NoSuchBucket")


def test_errors_of_delete_objects_and_bucket_not_empty_carry_the_tables_fix(lab) -> None:
    client = lab.client()
    with Stubber(client) as stub:
        stub.add_response(
            "delete_objects",
            {"Errors": [{"Key": "k", "Code": "AccessDenied", "Message": "Access Denied"}]},
        )
        with pytest.raises(CredentialsError) as denied:
            buckets._delete_batch(client, "b", [{"Key": "k"}])
    assert denied.value.hint == AWS_ERRORS["AccessDenied"][1]
    assert "s3:DeleteObject" in denied.value.message
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", {"KeyCount": 0})
        stub.add_client_error("delete_bucket", "BucketNotEmpty", http_status_code=409)
        with pytest.raises(BucketError) as held:
            buckets.remove_bucket(client, "kept-bucket")
    assert "old object versions" in held.value.message
    assert held.value.hint == AWS_ERRORS["BucketNotEmpty"][1].replace("NAME", "kept-bucket")


def test_cleanup_reports_through_its_callback_and_never_prints(
    lab, capsys: pytest.CaptureFixture[str]
) -> None:
    client = buckets.client_for(lab)
    lines: list[str] = []
    owner = names.unique_name("nobody")
    assert buckets.cleanup(client, owner=owner, report=lines.append) == []
    assert lines == ["no bucket made by s3lab matches"]
    buckets.cleanup(client, owner=owner)  # no callback: the line goes to the log
    assert capsys.readouterr().out == ""


# --- cost ----------------------------------------------------------------------------------------


def test_prices_and_the_seed_arithmetic() -> None:
    assert cost.flat_cost(1e12) == pytest.approx(23.0)
    assert cost.monthly_cost(1e12, "us-west-2") == (pytest.approx(23.0), "us-west-2")
    assert cost.monthly_cost(1e12, "xx-nowhere-1")[1] == cost.PRICES["default_region"]
    # tiers: 50 TB at 0.023, the next 450 TB at 0.022
    assert cost.monthly_cost(100e12)[0] == pytest.approx(50_000 * 0.023 + 50_000 * 0.022)
    assert "NOT verified" in cost.PRICES["source"] and cost.PRICES["date"]
    lines = "\n".join(cost.seed_arithmetic())
    assert "$276,000,000" in lines and "9.22 EB" in lines and "$2,545,650,682 a year" in lines


def test_the_mount_chapters_and_the_cost_page_share_one_sum() -> None:
    import s3lab
    from s3lab.mount import semantics

    blocks = semantics.MOUNTPOINT_DF_BLOCKS
    assert s3lab.fill_cost is cost.fill_cost
    assert blocks * 1024 == cost.MOUNTPOINT_DF_BYTES
    year = cost.fill_cost(blocks)["usd_per_year"]
    assert f"${year:,.0f} a year" in "\n".join(cost.seed_arithmetic())


def test_cli_cost_of_a_bucket(bucket, lab) -> None:
    client, name = bucket
    _fill(client, name, 4)
    result = cli("bucket", "cost", name, "--backend", lab.name)
    assert result.returncode == 0, result
    assert "objects:  4" in result.stdout and "(40 bytes)" in result.stdout
    assert "a month" in result.stdout and "source: From memory, NOT verified" in result.stdout


# --- cleanup -------------------------------------------------------------------------------------


def test_cleanup_removes_only_what_s3lab_made(lab) -> None:
    client = buckets.client_for(lab)
    owner = names.unique_name("owner")  # unique, so other tests' buckets never match
    mine = buckets.make_bucket(client, names.unique_name("mine"), owner=owner)
    _fill(client, mine, 3)
    other_owner = buckets.make_bucket(client, names.unique_name("theirs"), owner="someone")
    not_s3lab = names.unique_name("foreign")
    client.create_bucket(Bucket=not_s3lab)
    client.put_bucket_tagging(
        Bucket=not_s3lab, Tagging={"TagSet": [{"Key": "owner", "Value": owner}]}
    )
    old = buckets.make_bucket(client, names.unique_name("old"), owner=owner)
    client.put_bucket_tagging(
        Bucket=old,
        Tagging={
            "TagSet": [
                {"Key": "made-by", "Value": "s3lab"},
                {"Key": "owner", "Value": owner},
                {"Key": "created", "Value": "2020-01-01T00:00:00Z"},
            ]
        },
    )
    try:
        dry = cli("bucket", "cleanup", "--owner", owner, "--dry-run", "--backend", lab.name)
        assert dry.returncode == 0, dry
        assert f"would remove: {mine}" in dry.stdout and f"would remove: {old}" in dry.stdout
        assert not_s3lab not in dry.stdout and other_owner not in dry.stdout

        aged = cli(
            "bucket",
            "cleanup",
            "--made-by-s3lab",
            "--older-than",
            "1d",
            "--dry-run",
            "--backend",
            lab.name,
        )
        assert aged.returncode == 0 and old in aged.stdout, aged
        assert mine not in aged.stdout and not_s3lab not in aged.stdout
        listed = [b["name"] for b in buckets.list_buckets(client)]
        assert {mine, old, not_s3lab, other_owner} <= set(listed)  # dry runs delete nothing

        done = cli("bucket", "cleanup", "--owner", owner, "--backend", lab.name)
        assert done.returncode == 0, done
        listed = [b["name"] for b in buckets.list_buckets(client)]
        assert mine not in listed and old not in listed
        assert not_s3lab in listed and other_owner in listed
    finally:
        for name in (other_owner, not_s3lab, mine, old):
            with contextlib.suppress(BucketError):
                buckets.remove_bucket(client, name, force=True)


def test_cleanup_needs_a_filter(lab) -> None:
    assert_one_line_error(
        cli("bucket", "cleanup", "--backend", lab.name), "only buckets s3lab made"
    )
    with pytest.raises(UsageError):
        buckets.cleanup(buckets.client_for(lab))
    assert_one_line_error(
        cli("bucket", "cleanup", "--made-by-s3lab", "--older-than", "soon", "--backend", lab.name),
        "cannot read the age",
    )
