"""s3lab configure: files the real aws command and boto3 read, traps refused before writing."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from s3lab import sandbox
from s3lab.configure import awsfiles, regions
from s3lab.errors import UsageError
from tests.support import assert_one_line_error, cli, run_cli

KEY = sandbox.FAKE_ACCESS_KEY_ID
SECRET = sandbox.FAKE_SECRET_ACCESS_KEY
NEW_KEY = "AKIA" + "TESTNEWCLASSK001"  # AWS's shape, split so no scanner takes it for a key

# An existing config a learner might have: comments, other profiles, a nested block.
EXISTING_CONFIG = """# my AWS settings; keep this comment
[default]
region = us-west-2
output = json

; a class profile
[profile class]
region = eu-central-1
s3 =
    max_concurrent_requests = 20

[profile other]
region = ap-south-1
"""
EXISTING_CREDENTIALS = """# work keys
[default]
aws_access_key_id = TESTEXISTINGDEFAULT1
aws_secret_access_key = existing/default/secret/not/a/real/key0

[class]
aws_access_key_id = TESTEXISTINGCLASS001
aws_secret_access_key = existing/class/secret/not/a/real/key000
aws_session_token = an-old-session-token
"""


def cli_in(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``s3lab ARGS`` in this process, with ``stdin`` piped in (not a terminal)."""
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return cli(*args)
    finally:
        sys.stdin = saved


def existing(aws_files: tuple[Path, Path]) -> tuple[Path, Path]:
    config, credentials = aws_files
    config.parent.mkdir(parents=True)
    config.write_text(EXISTING_CONFIG)
    credentials.write_text(EXISTING_CREDENTIALS)
    config.chmod(0o600)
    credentials.chmod(0o600)
    return config, credentials


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- regions ------------------------------------------------------------------------------------

TYPOS = {
    "uswest-2": "us-west-2",
    "us-west2": "us-west-2",
    "us-wset-2": "us-west-2",
    "us-weast-2": "us-west-2",
    "useast1": "us-east-1",
    "us-east-l": "us-east-1",
    "us_east_1": "us-east-1",
    "US-WEST-2": "us-west-2",
    "us-west-2a": "us-west-2",
    "us-west-2 ": "us-west-2",
    "eu-wset-1": "eu-west-1",
    "euwest1": "eu-west-1",
    "ap-southest-2": "ap-southeast-2",
    "eu-central1": "eu-central-1",
    "oregon": "us-west-2",
    "frankfurt": "eu-central-1",
}


@pytest.mark.parametrize(("typo", "meant"), TYPOS.items())
def test_region_typo_is_refused_with_the_right_suggestion(typo: str, meant: str) -> None:
    verdict = regions.check_region(typo)
    assert not verdict.ok
    assert verdict.suggestions[0] == meant
    with pytest.raises(UsageError, match=f"did you mean {meant}\\?"):
        regions.require_region(typo)


@pytest.mark.parametrize("region", ["us-west-2", "us-east-1", "eu-central-1", "us-gov-west-1"])
def test_known_regions_pass_without_a_note(region: str) -> None:
    assert regions.check_region(region) == regions.RegionCheck(region, True)


def test_known_regions_come_from_botocore_without_pseudo_regions() -> None:
    known = regions.region_data().regions
    assert "us-west-2" in known and "af-south-1" in known
    assert not [r for r in known if r.endswith("-global")]


@pytest.mark.parametrize("region", ["ap-southeast-9", "eu-south-3", "us-west-7"])
def test_a_region_newer_than_botocore_is_accepted_with_a_note(region: str) -> None:
    verdict = regions.check_region(region)
    assert verdict.ok and "not in this botocore" in verdict.note


def test_the_cli_refuses_a_region_typo_in_one_line(aws_files: tuple[Path, Path]) -> None:
    result = cli("configure", "--region", "uswest-2")
    assert_one_line_error(result, "'uswest-2' is not an AWS region", "did you mean us-west-2?")
    assert not aws_files[0].exists()


def test_the_cli_accepts_a_newer_region_and_says_so(aws_files: tuple[Path, Path]) -> None:
    result = cli("configure", "--region", "ap-southeast-9")
    assert result.returncode == 0, result.stderr
    assert "not in this botocore" in result.stdout
    assert "region = ap-southeast-9" in aws_files[0].read_text()


# --- writing the files --------------------------------------------------------------------------


def test_files_are_written_like_aws_configure(aws_files: tuple[Path, Path]) -> None:
    config, credentials = aws_files
    result = run_cli(  # end to end: the real command, the secret piped to it
        "configure",
        "--profile",
        "lab",
        "--access-key-id",
        KEY,
        "--secret-access-key",
        "-",
        "--region",
        "us-west-2",
        "--output",
        "json",
        input=SECRET + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert credentials.read_text() == (
        f"[lab]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
    )
    assert config.read_text() == "[profile lab]\nregion = us-west-2\noutput = json\n"
    assert mode(config) == mode(credentials) == 0o600
    assert mode(config.parent) == 0o700
    # The default profile is [default] in both files, never [profile default].
    cli("configure", "--region", "eu-west-1")
    assert config.read_text().endswith("\n[default]\nregion = eu-west-1\n")


def test_secret_is_never_printed(aws_files: tuple[Path, Path]) -> None:
    result = cli(
        "configure", "--access-key-id", KEY, "--secret-access-key", SECRET, "--region", "us-east-1"
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "****************MPLE" in result.stdout
    assert "shell history" in result.stderr  # a secret on the command line is warned about
    listed = cli("configure", "list")
    assert SECRET not in listed.stdout and KEY not in listed.stdout
    assert "****************EKEY" in listed.stdout


def test_other_profiles_and_comments_are_kept_byte_for_byte(aws_files: tuple[Path, Path]) -> None:
    config, credentials = existing(aws_files)
    result = cli_in(
        "new/class/secret/not/a/real/key/00000000\n",
        "configure",
        "--profile",
        "class",
        "--access-key-id",
        NEW_KEY,
        "--secret-access-key",
        "-",
        "--region",
        "us-west-2",
    )
    assert result.returncode == 0, result.stderr
    new_config = config.read_text()
    start = EXISTING_CONFIG.index("[profile class]")
    end = EXISTING_CONFIG.index("[profile other]")
    assert new_config.startswith(EXISTING_CONFIG[:start])
    assert new_config.endswith(EXISTING_CONFIG[end:])
    assert new_config[start : len(new_config) - len(EXISTING_CONFIG[end:])] == (
        "[profile class]\nregion = us-west-2\ns3 =\n    max_concurrent_requests = 20\n\n"
    )
    new_credentials = credentials.read_text()
    start = EXISTING_CREDENTIALS.index("[class]")
    assert new_credentials[:start] == EXISTING_CREDENTIALS[:start]
    # The old session token would make AWS reject the new key: it is removed.
    assert new_credentials[start:] == (
        f"[class]\naws_access_key_id = {NEW_KEY}\n"
        "aws_secret_access_key = new/class/secret/not/a/real/key/00000000\n"
    )
    # botocore reads what was written, and the untouched profiles are as they were.
    profiles = awsfiles.read_profiles(config, config=True)
    assert profiles["class"] == {"region": "us-west-2", "s3": {"max_concurrent_requests": "20"}}
    assert profiles["other"] == {"region": "ap-south-1"}


def test_set_values_merges_a_nested_block_and_removes_keys() -> None:
    text = "[profile k]\ns3 =\n    max_concurrent_requests = 20\nregion = x\n"
    changed = awsfiles.set_values(
        text, "profile k", {"s3": {"addressing_style": "path"}, "region": None}
    )
    assert changed == (
        "[profile k]\ns3 =\n    max_concurrent_requests = 20\n    addressing_style = path\n"
    )
    assert awsfiles.set_values("", "profile k", {"region": None}) == ""


BAD_INPUTS = [
    (["--region", "uswest-2"], "did you mean us-west-2"),
    (["--output", "jsn"], "did you mean json"),
    (["--endpoint-url", "s3.kopah.uw.edu"], "did you mean https://s3.kopah.uw.edu"),
    (["--profile", "my profile", "--region", "us-west-2"], "profile name"),
    (["--access-key-id", SECRET, "--secret-access-key", KEY], "looks like a secret"),
    (["--access-key-id", KEY, "--secret-access-key", KEY], "looks like an access key id"),
    (["--access-key-id", KEY], "go together"),
    (["--access-key-id", KEY, "--secret-access-key", "has space"], "spaces"),
    (["--region", "us-west-2", "--bogus"], "--help"),
    ([], "input ended"),  # interactive, but stdin is empty
]


@pytest.mark.parametrize(("args", "words"), BAD_INPUTS)
def test_bad_input_is_one_line_and_leaves_the_files_untouched(
    aws_files: tuple[Path, Path], args: list[str], words: str
) -> None:
    config, credentials = existing(aws_files)
    before = (config.read_bytes(), credentials.read_bytes())
    result = cli_in("", "configure", *args)
    assert_one_line_error(result, words)
    assert (config.read_bytes(), credentials.read_bytes()) == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["config", "credentials"]


def test_a_broken_file_is_reported_not_overwritten(aws_files: tuple[Path, Path]) -> None:
    config, _ = aws_files
    config.parent.mkdir()
    config.write_text("region = us-west-2\n[profile x\n")
    before = config.read_bytes()
    result = cli("configure", "--region", "us-west-2")
    assert_one_line_error(result, "not a valid AWS ini file")
    assert config.read_bytes() == before


def test_interactive_answers_from_a_pipe(aws_files: tuple[Path, Path]) -> None:
    config, credentials = aws_files
    answers = f"{KEY}\n{SECRET}\nus-west-2\njson\n"
    result = run_cli("configure", "--profile", "asked", input=answers)  # end to end
    assert result.returncode == 0, result.stderr
    assert "AWS Secret Access Key [None]: " in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert awsfiles.read_profiles(credentials, config=False)["asked"]["aws_access_key_id"] == KEY
    # Enter keeps what is there, as with aws configure; the prompt shows it masked.
    again = cli_in("\n\neu-west-1\n\n", "configure", "--profile", "asked")
    assert again.returncode == 0, again.stderr
    assert "[****************MPLE]" in again.stderr
    assert awsfiles.read_profiles(config, config=True)["asked"] == {
        "region": "eu-west-1",
        "output": "json",
    }


# --- the git guard and file modes ---------------------------------------------------------------


def test_keys_inside_a_git_work_tree_are_refused(
    aws_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inside = repo / "secrets" / "credentials"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(inside))
    args = ["configure", "--access-key-id", KEY, "--secret-access-key", "-"]
    result = cli_in(SECRET, *args)
    assert_one_line_error(result, "git work tree", str(repo), "--force")
    assert not inside.exists() and not (repo / "secrets").exists()
    forced = cli_in(SECRET, *args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert mode(inside) == 0o600


def test_git_work_tree_is_found_by_git_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A work tree whose .git lives elsewhere (GIT_DIR) has no .git folder to walk up to."""
    tree, gitdir = tmp_path / "tree", tmp_path / "store.git"
    tree.mkdir()
    subprocess.run(["git", "init", "-q", "--separate-git-dir", str(gitdir), str(tree)], check=True)
    (tree / ".git").unlink()  # leaves only git's own knowledge, via GIT_DIR/GIT_WORK_TREE
    monkeypatch.setenv("GIT_DIR", str(gitdir))
    monkeypatch.setenv("GIT_WORK_TREE", str(tree))
    assert awsfiles.git_work_tree(tree / "credentials") == tree
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert awsfiles.git_work_tree(tree / "credentials") is None


def test_open_permissions_are_warned_and_fixed(aws_files: tuple[Path, Path]) -> None:
    _config, credentials = existing(aws_files)
    credentials.chmod(0o644)
    result = cli("configure", "--region", "us-west-2")  # touches only config
    assert result.returncode == 0, result.stderr
    assert f"warning: others can read {credentials}" in result.stderr
    assert "--fix-permissions" in result.stderr
    fixed = cli("configure", "--fix-permissions")
    assert fixed.returncode == 0 and str(credentials) in fixed.stdout
    assert mode(credentials) == 0o600
    assert cli("configure", "--fix-permissions").stdout.strip() == "already private"


# --- read back by the real aws command and by boto3 ---------------------------------------------


def test_the_real_aws_command_and_boto3_read_the_sandbox_profile(
    lab: object, aws_files: tuple[Path, Path]
) -> None:
    backend = lab.name  # type: ignore[attr-defined]
    result = cli("configure", "--sandbox", "--backend", backend)
    assert result.returncode == 0, result.stderr
    client = lab.client()  # type: ignore[attr-defined]
    bucket = f"cfg-{backend}-{os.getpid()}"
    client.create_bucket(Bucket=bucket)
    try:
        listed = subprocess.run(
            ["aws", "--profile", "s3lab-sandbox", "s3", "ls"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert bucket in listed.stdout
        shown = subprocess.run(
            ["aws", "--profile", "s3lab-sandbox", "configure", "list"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert re.search(r"\*{16}MPLE\s+:?\s*shared-credentials-file", shown), shown
        assert re.search(r"us-east-1\s+:?\s*config-file", shown), shown  # v1 or v2's layout
        session = boto3.session.Session(profile_name="s3lab-sandbox")
        s3 = session.client("s3")
        assert s3.meta.endpoint_url == lab.endpoint_url  # type: ignore[attr-defined]
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        client.delete_bucket(Bucket=bucket)


def test_configure_list_matches_aws_configure_list(aws_files: tuple[Path, Path]) -> None:
    existing(aws_files)
    ours = cli("configure", "list", "--profile", "class")
    theirs = subprocess.run(
        ["aws", "configure", "list", "--profile", "class"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ours.returncode == 0, ours.stderr

    def facts(text: str) -> dict[str, tuple[str, str]]:
        # v1 and v2 before 2.31: a whitespace table under two header lines; later v2:
        # NAME : VALUE : TYPE : LOCATION rows under one header line
        lines = text.splitlines()
        if lines and lines[0].startswith("NAME"):
            rows = [[cell.strip() for cell in line.split(" : ")] for line in lines[1:]]
        else:
            rows = [line.split() for line in lines[2:]]
        return {row[0]: (row[1], row[2]) for row in rows if row}

    mine, aws = facts(ours.stdout), facts(theirs.stdout)
    for name in ("profile", "access_key", "secret_key", "region"):
        assert mine[name] == aws[name], (name, ours.stdout, theirs.stdout)


def test_kopah_profile_is_read_by_boto3_with_path_style_and_checksums(
    aws_files: tuple[Path, Path],
) -> None:
    config, _ = existing(aws_files)
    result = cli_in(
        "kopah/secret/not/a/real/key/000000000000\n",
        "configure",
        "--kopah",
        "--access-key-id",
        "KOPAHKEYID0000000001",
        "--secret-access-key",
        "-",
    )
    assert result.returncode == 0, result.stderr
    profile = awsfiles.read_profiles(config, config=True)["kopah"]
    assert profile == {
        "endpoint_url": "https://s3.kopah.uw.edu",
        "s3": {"addressing_style": "path"},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "region": "us-east-1",
        "services": "kopah",  # S3's and STS's own endpoints (see test_services_section)
    }
    s3 = boto3.session.Session(profile_name="kopah").client("s3")
    assert s3.meta.endpoint_url == "https://s3.kopah.uw.edu"
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert s3.meta.config.request_checksum_calculation == "when_required"
    assert s3.meta.config.response_checksum_validation == "when_required"


def test_doctor_json_is_the_same_data_as_the_table(aws_files: tuple[Path, Path]) -> None:
    result = cli("doctor", "--profile", "missing", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["checks"][0]["name"] == "profile"
    assert "could not be found" in data["checks"][0]["detail"]


def test_help_teaches_with_examples() -> None:
    for job in ("configure", "doctor"):
        result = cli(job, "--help")
        assert result.returncode == 0 and "example" in result.stdout


def test_services_section(aws_files: tuple[Path, Path]) -> None:
    """An endpoint profile names its own [services] section: S3 and STS, each to its server."""
    config, _ = existing(aws_files)
    from s3lab import configure

    configure.configure(
        "store",
        access_key_id=KEY,
        secret_access_key=SECRET,
        endpoint_url="http://127.0.0.1:9",
        sts_endpoint_url="http://127.0.0.1:10",
    )
    text = config.read_text()
    assert text.startswith(EXISTING_CONFIG)  # every byte before is kept
    assert "[profile store]\nendpoint_url = http://127.0.0.1:9\nservices = store\n" in text
    assert text.endswith(
        "[services store]\n"
        "s3 =\n    endpoint_url = http://127.0.0.1:9\n"
        "sts =\n    endpoint_url = http://127.0.0.1:10\n"
    )
    # what botocore makes of it (CLI v2's botocore reads the config file the same way)
    session = boto3.session.Session(profile_name="store", region_name="us-east-1")
    assert session.client("sts").meta.endpoint_url == "http://127.0.0.1:10"
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:9"
    # a new endpoint moves both; no endpoint is not a services section
    configure.configure("store", endpoint_url="http://127.0.0.1:11")
    text = config.read_text()
    assert text.count("[services store]") == 1 and "127.0.0.1:9" not in text
    assert "sts =\n    endpoint_url = http://127.0.0.1:11\n" in text  # no sandbox there
    configure.configure("plain", region="us-east-1")
    assert "[services plain]" not in config.read_text()
