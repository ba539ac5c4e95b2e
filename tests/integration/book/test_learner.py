"""The learner's path: a sandbox that behaves like an account and keeps its ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from s3lab import backends, buckets, configure, sandbox
from tests.integration.mount.test_containers import PODMAN_RUN, image  # noqa: F401 (a fixture)
from tests.support import ROOT, assert_one_line_error, cli


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


@pytest.fixture
def aws_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A learner's own S3LAB_HOME and AWS files, private to one test; returns the AWS folder."""
    aws = tmp_path / "aws"
    monkeypatch.setenv("S3LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    return aws


@pytest.mark.integration  # starts S3 servers
@pytest.mark.parametrize("name", sandbox.SANDBOXES)
def test_sandbox_answers_sts_and_keeps_its_ports_across_stop_and_start(
    name: str, aws_dir: Path
) -> None:
    try:
        first, note = configure.start_sandbox(name)
        assert note == ""
        done = cli("configure", "--sandbox", "--backend", name)
        assert done.returncode == 0, done.stderr
        _account_and_profile_work(first, aws_dir)
        sandbox.stop(name)
        assert sandbox.running(name) is None
        again, note = configure.start_sandbox(name)
        assert (again.ports, again.sts_url, note) == (first.ports, first.sts_url, "")
        _account_and_profile_work(again, aws_dir)
    finally:
        sandbox.stop()


@pytest.mark.integration  # starts an S3 server
def test_a_taken_port_moves_the_sandbox_and_rewrites_its_profile(aws_dir: Path) -> None:
    try:
        first, _ = configure.start_sandbox("moto")
        assert cli("configure", "--sandbox", "--backend", "moto").returncode == 0
        sandbox.stop("moto")
        with socket.socket() as squatter:  # someone else takes the port while it is stopped
            # As servers do (and must, here: the stopped server's closed connections may hold
            # the port in TIME_WAIT for a minute, and a plain bind then fails).
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


@pytest.mark.integration  # runs a notebook on the session's sandboxes
def test_the_lab_kernel_is_registered_and_runs_a_chapter() -> None:
    """What ``bash tasks.sh lab --check`` does, for the first chapter only (nbval runs them all).

    The kernel the notebooks name (python3) carries the display name the learner sees in
    JupyterLab, and the first notebook runs top to bottom in it, on the session's sandboxes.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec("python3").display_name == "Python (s3lab)"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lab_check.py"), "notebooks/10_first_bucket.ipynb"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10_first_bucket.ipynb            ok" in done.stdout, done.stdout
    assert "1 of 1 notebooks ran top to bottom (kernel 'Python (s3lab)')" in done.stdout


def _setup_system(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """tasks.sh's setup_system as a user who is not root, with every system package missing."""
    tasks = (ROOT / "tasks.sh").read_text()
    functions = "\n".join(
        tasks[
            tasks.index(f"\n{name}() {{") : tasks.index("\n}\n", tasks.index(f"\n{name}() {{")) + 3
        ]
        for name in ("say", "missing_packages", "setup_system")
    )
    packages = "\n".join(
        line
        for line in tasks.splitlines()
        if line.startswith(("LAB_PACKAGES=(", "KOPAH_PACKAGES=(", "SYSTEM_PACKAGES=("))
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("id", "echo 1000"), ("dpkg-query", "exit 1"), ("apt-get", "exit 9")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = (
        f"set -euo pipefail\n{packages}\n{functions}\nsetup_system {' '.join(args)}\necho went-on"
    )
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=30,
    )


def test_a_learner_who_is_not_root_goes_on_without_the_fuse_packages(tmp_path: Path) -> None:
    lab = _setup_system(tmp_path, "optional", '"${LAB_PACKAGES[@]}"')
    assert lab.returncode == 0, lab.stderr
    assert "went-on" in lab.stdout
    assert "sudo apt-get install -y fuse3 s3fs python3-venv" in lab.stderr, lab.stderr
    assert "mount chapters" in lab.stderr
    assert not {"podman", "chromium", "ceph-mon", "s3cmd"} & set(lab.stderr.split()), lab.stderr
    test = _setup_system(tmp_path / "t")
    assert test.returncode == 1 and "went-on" not in test.stdout
    assert test.stderr.startswith("error: missing system packages"), test.stderr


@pytest.mark.parametrize("tool", ["rclone", "s3fs"])
def test_another_user_reads_a_mount_only_with_allow_other(
    server: backends.Backend, tool: str
) -> None:
    """A FUSE mount is refused to every user but its owner, root included, unless allow_other.

    Run as root (as CI does): the mount is root's, and a second user (nobody) tries to list it.
    """
    import tempfile

    from s3lab import mount
    from s3lab.buckets import names
    from tests.support.mounts import need

    need(tool)
    if os.geteuid() != 0:
        pytest.skip("needs root: a second user is made with setpriv, which only root may do")
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is on every Debian and Ubuntu"
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "ls"]
    top = Path(tempfile.mkdtemp(prefix="s3lab-other-"))
    top.chmod(0o755)  # others may reach the folder: only the mount itself may refuse them
    bucket = names.unique_name("s3lab-other")
    client = server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="shared.txt", Body=b"for everyone")
    try:
        seen = {}
        for allow in (False, True):
            folder = top / f"allow-{allow}"
            done = mount.mount(bucket, folder, tool=tool, lab=server, allow_other=allow)
            assert ("allow-other" in done.flags) is allow
            try:
                seen[allow] = subprocess.run(
                    [*as_nobody, str(folder)], capture_output=True, text=True
                )
            finally:
                mount.unmount(folder)
        assert seen[False].returncode != 0 and "Permission denied" in seen[False].stderr
        assert seen[True].returncode == 0 and "shared.txt" in seen[True].stdout, seen[True].stderr
    finally:
        buckets.remove_bucket(client, bucket, force=True)
        shutil.rmtree(top, ignore_errors=True)


def _persist(lab: backends.Backend, tool: str, folder: Path, *flags: str) -> tuple[str, str]:
    done = cli("mount", "a-bucket", str(folder), "--tool", tool, "--persist", *flags, env=lab.env)
    assert done.returncode == 0, done.stderr
    assert "nothing was mounted now" in done.stderr
    return done.stdout, done.stderr


def test_persist_gives_an_fstab_line_for_mountpoint_and_s3fs(
    server: backends.Backend, tmp_path: Path
) -> None:
    line, where = _persist(server, "mountpoint", tmp_path, "--allow-delete", "--allow-other")
    source, target, kind, options, *numbers = line.split()
    assert (source, target, kind, numbers) == (
        "s3://a-bucket/",
        str(tmp_path),
        "mount-s3",
        ["0", "0"],
    )
    assert {"_netdev", "nofail", "allow-delete", "allow-other", "force-path-style"} <= set(
        options.split(",")
    )
    assert "/etc/fstab" in where
    line, _ = _persist(server, "s3fs", tmp_path, "--read-only", "--prefix", "runs")
    source, target, kind, options, *_ = line.split()
    assert (source, kind) == ("a-bucket:/runs", "fuse.s3fs")
    assert {"_netdev", "ro", "use_path_request_style"} <= set(options.split(","))
    assert s3lab_keys_absent(line)


def test_metadata_ttl_reaches_each_tool_under_its_own_name(
    server: backends.Backend, tmp_path: Path
) -> None:
    """--metadata-ttl is Mountpoint's flag; rclone trusts a listing that long, s3fs a stat."""
    line, _ = _persist(server, "mountpoint", tmp_path, "--metadata-ttl", "3")
    assert "metadata-ttl=3" in line.split()[3].split(",")
    line, _ = _persist(server, "s3fs", tmp_path, "--metadata-ttl", "3")
    assert "stat_cache_expire=3" in line.split()[3].split(",")
    unit, _ = _persist(server, "rclone", tmp_path, "--metadata-ttl", "3")
    assert "--dir-cache-time 3s" in unit
    assert "--dir-cache-time 1s" in _persist(server, "rclone", tmp_path)[0]  # s3lab's default
    refused = cli("mount", "a-bucket", str(tmp_path), "--metadata-ttl", "0", env=server.env)
    assert_one_line_error(refused, "--metadata-ttl")


def s3lab_keys_absent(text: str) -> bool:
    return sandbox.FAKE_SECRET_ACCESS_KEY not in text and sandbox.FAKE_ACCESS_KEY_ID not in text


def test_persist_s_rclone_unit_mounts_the_bucket(server: backends.Backend, tmp_path: Path) -> None:
    """The unit's command and settings, run as systemd would (keys from the user's files)."""
    from tests.support.mounts import need

    need("rclone")
    bucket = f"persist-{os.getpid()}"
    client = server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="kept.txt", Body=b"after a reboot")
    folder = tmp_path / "mnt"
    folder.mkdir()
    done = cli("mount", bucket, str(folder), "--tool", "rclone", "--persist", env=server.env)
    unit = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and line[0].isupper()
    )
    assert s3lab_keys_absent(done.stdout)
    env = dict(item.split("=", 1) for item in unit["Environment"].split())
    keys = {k: v for k, v in server.env.items() if k.startswith("AWS_") and "ENDPOINT" not in k}
    started = subprocess.Popen(
        [*unit["ExecStart"].split(), "--daemon"], env={"PATH": os.environ["PATH"], **env, **keys}
    )
    try:
        assert started.wait(timeout=30) == 0
        assert (folder / "kept.txt").read_bytes() == b"after a reboot"
    finally:
        subprocess.run(unit["ExecStop"].split(), check=False)
        buckets.remove_bucket(client, bucket, force=True)


# --- each exercise done as its text says, as a learner on a role-only VM ------------------------


@pytest.fixture(scope="module")
def role_only_vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A role-only VM's environment: the book's role on a server enforcing its policy, no files.

    Plus ``S3LAB_BACKEND=aws``: what ``s3lab.use("aws")`` exports to a notebook's ``!`` lines,
    the backend a learner on the VM picks.
    """
    from s3lab import notebooks, settings
    from s3lab.sandbox import imds

    tmp = tmp_path_factory.mktemp("role-only-vm")
    with imds.role_only_vm(notebooks.book_policy(), tmp / "vm") as vm:
        env = dict(os.environ)
        for variable in (*settings.SANDBOX_SETS, *settings.SANDBOX_CLEARS):
            env.pop(variable, None)
        vm.apply(env)
        env["S3LAB_BACKEND"] = "aws"
        yield env


def _sh(script: str, env: dict[str, str], cwd: Path) -> str:
    """Run what a learner types, as a notebook's ! lines run (a pipe's status is its last part's)."""
    done = subprocess.run(
        ["bash", "-eu", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout


#: ``NAME=...``: the name as the text says to make it, s3lab.unique_name("<id>") in Python.
def _name(exercise: str) -> str:
    return f"name=$(python -c 'import s3lab; print(s3lab.unique_name(\"{exercise}\"))')\n"


#: What each exercise's text says to do, in a learner's words (bash; Python through python -c).
TEXTS: dict[str, str] = {
    "first-bucket": _name("first-bucket")
    + """aws s3 mb s3://$name
echo one > a.txt && echo two > b.txt
aws s3 cp a.txt s3://$name/data/a.txt && aws s3 cp b.txt s3://$name/data/b.txt
aws s3 ls s3://$name/data/ > listing.txt
aws s3 cp listing.txt s3://$name/listing.txt
""",
    "install-awscli": _name("install-awscli")
    + """aws s3 mb s3://$name
s3lab install awscli --dry-run --arch aarch64 | aws s3 cp - s3://$name/plan.txt
echo "~/.local/bin" | aws s3 cp - s3://$name/answer.txt
""",
    "cloud-vm": _name("cloud-vm")
    + """aws s3 mb s3://$name
python -c 'import boto3; print(boto3.Session().get_credentials().method)' | aws s3 cp - s3://$name/keys.txt
s3lab doctor | grep "credentials found" | aws s3 cp - s3://$name/doctor.txt
""",
    "buckets-cli": """mkdir mine && echo 1 > mine/a.csv && echo 2 > mine/b.csv && echo notes > mine/notes.txt
name=$(s3lab bucket name --prefix Buckets-CLI)
case $name in s3lab-buckets-cli-*) ;; *) echo "not the start the text names: $name"; exit 1;; esac
aws s3 mb s3://$name
aws s3 sync mine s3://$name/mine
aws s3 sync mine s3://$name/mine > second-sync.txt
aws s3 cp second-sync.txt s3://$name/second-sync.txt
""",
    "output-formats": _name("output-formats")
    + """aws s3 mb s3://$name
echo one > a.txt && echo two > b.txt
aws s3 cp a.txt s3://$name/data/a.txt && aws s3 cp b.txt s3://$name/data/b.txt
keys() { aws s3api list-objects-v2 --bucket $name --query "Contents[].Key" "$@"; }
keys --output json > listing.json
keys --output text > listing.txt
keys --output table > listing.table
for file in listing.json listing.txt listing.table; do aws s3 cp $file s3://$name/$file; done
""",
    "boto3": _name("boto3")
    + """python - "$name" <<'PY'
import sys
import boto3
name = sys.argv[1]
s3 = boto3.client("s3")
s3.create_bucket(Bucket=name)
for i in range(250):
    s3.put_object(Bucket=name, Key=f"many/part-{i:03d}.txt", Body=f"{i}\\n".encode())
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix="many/part-1")
by_client = sum(item["Size"] for page in pages for item in page.get("Contents", []))
objects = boto3.resource("s3").Bucket(name).objects.filter(Prefix="many/part-1")
by_resource = sum(o.size for o in objects)
assert by_client == by_resource
s3.put_object(Bucket=name, Key="answer.txt", Body=f"{by_client}\\n{by_resource}\\n".encode())
PY
""",
    "multipart": _name("multipart")
    + """python - "$name" <<'PY'
import csv
import io
import sys
import boto3
from boto3.s3.transfer import TransferConfig
name = sys.argv[1]
MiB = 1024 * 1024
s3 = boto3.client("s3")
s3.create_bucket(Bucket=name)
rule = {
    "ID": "abort-unfinished",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}
s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
parts = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
s3.upload_fileobj(io.BytesIO(b"x" * (12 * MiB)), name, "big.bin", Config=parts)
assert s3.head_object(Bucket=name, Key="big.bin")["ETag"].strip('"').endswith("-3")
s3.put_object(Bucket=name, Key="counts.csv", Body=b"site,n\\nalpha,3\\nbeta,4\\n")
body = s3.get_object(Bucket=name, Key="counts.csv")["Body"].read()
rows = csv.DictReader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8"))
s3.put_object(Bucket=name, Key="total.txt", Body=str(sum(int(r["n"]) for r in rows)).encode())
PY
""",
    "mount": _name("mount")
    + """aws s3 mb s3://$name
s3lab mount $name ex/rw
mkdir -p ex/rw/notes && echo "Hello from a mounted folder" > ex/rw/notes/hello.txt
s3lab mount $name ex/notes --prefix notes --read-only
ls ex/notes > ex/rw/ls.txt
if rm ex/notes/hello.txt 2> ex/rw/rm.txt; then exit 1; fi
""",
    # $PODMAN_RUN: podman run as the container tests run it (docker run --rm on a laptop)
    "containers": _name("containers")
    + """aws s3 mb s3://$name
mkdir -p ckpt && s3lab mount $name ckpt --allow-other
$PODMAN_RUN -v $PWD/ckpt:/ckpt $IMAGE sh -c 'hostname > /ckpt/ckpt-1.txt'
""",
    "mount-semantics": _name("mount-semantics")
    + """aws s3 mb s3://$name
s3lab mount $name ex --allow-delete
echo draft > ex/tfile.txt
cp ex/tfile.txt ex/notes.txt && rm ex/tfile.txt
""",
}

#: The local exercise (a profile for the sandbox, on this machine) and the Kopah one (Kopah is
#: not AWS: a kopah profile to the SeaweedFS sandbox stands in for it), outside the VM.
ELSEWHERE = {
    "configure": """export AWS_CONFIG_FILE=$PWD/ex-aws/config AWS_SHARED_CREDENTIALS_FILE=$PWD/ex-aws/credentials
s3lab configure --sandbox --backend moto --profile class
aws configure set region us-wset-2 --profile class
if s3lab doctor --profile class > broken.txt; then exit 1; fi
grep region broken.txt | grep -q FAIL && grep -q "us-west-2" broken.txt
s3lab configure --profile class --region us-east-1
s3lab doctor --profile class | (! grep FAIL)
""",
    "kopah": """echo "$SECRET" | s3lab configure --kopah --endpoint-url $ENDPOINT --access-key-id $KEY_ID --secret-access-key -
s3lab configure --s3cmd --profile kopah --s3cmd-file s3cfg
name=$(S3LAB_BACKEND=kopah python -c 'import s3lab; print(s3lab.unique_name("kopah"))')
aws --profile kopah s3 mb s3://$name
printf 'sample,value\\na,1\\n' > a.csv && cp a.csv b.csv && cp a.csv c.csv
aws --profile kopah s3 cp a.csv s3://$name/project/a.csv
aws --profile kopah s3 cp b.csv s3://$name/project/b.csv
s3cmd -c s3cfg put --quiet c.csv s3://$name/project/c.csv
aws --profile kopah s3 ls s3://$name/project/
s3cmd -c s3cfg ls s3://$name/project/
""",
}


def test_every_exercise_has_its_text_done_here() -> None:
    from s3lab import checks

    assert sorted({**TEXTS, **ELSEWHERE}) == sorted(checks.EXERCISES)


def _check(exercise: str, env: dict[str, str], cwd: Path, *flags: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "s3lab.cli", "check", exercise, *flags],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return f"{done.returncode} {done.stdout.strip()}"


def _remove_made(env: dict[str, str], cwd: Path, start: str, *flags: str) -> None:
    """The learner's last step: remove the exercise's buckets (aws s3 rb --force)."""
    script = (
        f"for b in $(aws {' '.join(flags)} s3 ls | awk '{{print $3}}' | grep '{start}'); do "
        f"aws {' '.join(flags)} s3 rb s3://$b --force > /dev/null; done"
    )
    _sh(script, env, cwd)


@pytest.mark.integration
@pytest.mark.parametrize("exercise", sorted(TEXTS))
def test_each_exercise_done_as_its_text_says_passes_its_check_on_a_role_only_vm(
    exercise: str, role_only_vm: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On the role's keys alone, on a server that refuses what the book's policy does not allow.

    The names the texts make (``s3lab.unique_name("<id>")``) are ones the policy allows. The
    containers text says "on your own machine": a VM with podman is one, and the role's keys
    reach the mount the same way as a laptop's profile does.
    """
    env = role_only_vm
    if exercise.startswith("mount") or exercise == "containers":
        from tests.support.mounts import need

        need("rclone")
    if exercise == "containers":
        env = {**env, "IMAGE": request.getfixturevalue("image"), "PODMAN_RUN": " ".join(PODMAN_RUN)}
    assert _check(exercise, env, tmp_path).startswith(f"1 {exercise}: not yet")
    try:
        _sh(TEXTS[exercise], env, tmp_path)
        assert _check(exercise, env, tmp_path).startswith(f"0 {exercise}: done")
    finally:
        for folder in ("ex/notes", "ex/rw", "ex", "ckpt"):
            if os.path.ismount(tmp_path / folder):
                _sh(f"s3lab unmount {folder}", env, tmp_path)
        _remove_made(env, tmp_path, f"s3lab-{exercise}-")
    assert _check(exercise, env, tmp_path).startswith(f"1 {exercise}: not yet")


@pytest.mark.integration
@pytest.mark.parametrize("exercise", sorted(ELSEWHERE))
def test_the_local_and_kopah_exercises_done_as_their_texts_say_pass_their_checks(
    exercise: str, server: backends.Backend, tmp_path: Path
) -> None:
    if exercise == "kopah" and not shutil.which("s3cmd"):
        from tests.support import unavailable

        unavailable("s3cmd is not installed (bash tasks.sh setup installs it)", "the Kopah text")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "S3LAB_BACKEND"}
    env |= {  # the scratch files the configure text exports: its check runs in that terminal
        "AWS_CONFIG_FILE": str(tmp_path / "ex-aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "ex-aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SECRET": sandbox.FAKE_SECRET_ACCESS_KEY,
        "KEY_ID": sandbox.FAKE_ACCESS_KEY_ID,
        "ENDPOINT": str(server.endpoint_url),
    }
    flags = ("--backend", "kopah") if exercise == "kopah" else ()
    try:
        _sh(ELSEWHERE[exercise], env, tmp_path)
        assert _check(exercise, env, tmp_path, *flags).startswith(f"0 {exercise}: done")
    finally:
        if exercise == "kopah":
            _remove_made(env, tmp_path, "s3lab-kopah-", "--profile", "kopah")


# --- the VM chapter's set-up, as the VM's own user -------------------------------------------

#: The line every copy of the chapter's set-up block has: where the repository comes from.
CLONE = "git clone <repository-url>"
LEARNER = "s3lab-vm-learner"


def vm_setup_steps() -> list[str]:
    """Chapter 35's set-up block (the one that clones the book), line by line."""
    path = ROOT / "notebooks" / "35_cloud_vm.ipynb"
    text = "".join(c.source for c in nbformat.read(path, as_version=4).cells if CLONE in c.source)
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if CLONE in b]
    return block.strip().splitlines()


def test_the_vm_chapter_sets_up_with_the_lean_lab() -> None:
    steps = vm_setup_steps()
    assert steps[-1] == "bash tasks.sh lab", steps
    assert not any("tasks.sh setup" in step or "tasks.sh test" in step for step in steps)
    packages = next(step for step in steps if "apt-get install" in step).split()
    assert {"podman", "chromium", "ceph-mon", "s3cmd"}.isdisjoint(packages)


@pytest.mark.machine_wide  # makes a user (with sudo) and runs apt-get: alone, last
def test_the_vm_chapters_steps_work_as_written_for_a_user_who_is_not_root() -> None:
    """The ``ubuntu`` user of a fresh VM: a user made here, with sudo, and a clone it can read.

    It runs chapter 35's set-up block as written (the repository's address replaced by a local
    clone): the system packages, the clone, ``bash tasks.sh lab --check`` on the first chapter,
    then ``bash tasks.sh lab``, which must serve JupyterLab at the repository's root, showing
    notebooks/, with book/ beside it (the notebooks' ``../book/*.md`` links).
    """
    import tempfile
    import urllib.request

    if os.geteuid() != 0:
        pytest.skip("needs root: it makes a user and gives it sudo")
    place = Path(tempfile.mkdtemp(prefix="s3lab-vm-"))
    place.chmod(0o755)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(ROOT), str(place / "s3lab.git")], check=True
    )
    subprocess.run(["chmod", "-R", "a+rX", str(place)], check=True)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", LEARNER], check=True)
    # its own copy of the repository (git refuses to clone from one another user owns)
    subprocess.run(["chown", "-R", f"{LEARNER}:{LEARNER}", str(place / "s3lab.git")], check=True)
    sudoers = Path("/etc/sudoers.d") / LEARNER
    sudoers.write_text(f"{LEARNER} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    home = Path("/home") / LEARNER
    # pip's downloads kept between runs of this test (the user is made anew each time)
    cache = Path("/var/tmp/s3lab-vm-learner-pip")
    cache.mkdir(exist_ok=True)
    subprocess.run(["chown", "-R", f"{LEARNER}:{LEARNER}", str(cache)], check=True)
    as_user = ["setpriv", "--reuid", LEARNER, "--regid", LEARNER, "--init-groups"]
    port = str(sandbox.free_port())
    env = {
        "HOME": str(home),
        "USER": LEARNER,
        "LOGNAME": LEARNER,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": str(cache),
        "S3LAB_LAB_PORT": port,
    }
    steps = [
        step.replace("<repository-url>", str(place / "s3lab.git")) for step in vm_setup_steps()
    ]
    lab = None
    try:
        done = subprocess.run(
            [*as_user, "bash", "-euo", "pipefail", "-c", "\n".join(steps[:-1])],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "1 of 1 notebooks ran top to bottom" in done.stdout, done.stdout
        assert "podman" not in done.stderr and "chromium" not in done.stderr, done.stderr
        log = home / "lab.log"
        lab = subprocess.Popen(
            [*as_user, "bash", "-c", f"cd s3lab && exec {steps[-1]} > {log} 2>&1"],
            cwd=home,
            env=env,
        )
        url = ""
        while not url and lab.poll() is None:  # JupyterLab prints its address when it serves
            found = re.search(
                rf"http://127\.0\.0\.1:{port}/lab/tree/notebooks\?token=\w+",
                log.read_text() if log.exists() else "",
            )
            url = found[0] if found else ""
            time.sleep(0.5)
        assert url, log.read_text()
        token = url.split("token=")[1]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/contents/book?token={token}"
        ) as answer:
            listed = {item["name"] for item in json.load(answer)["content"]}
        assert "cloud-vm.md" in listed, listed
        with urllib.request.urlopen(url) as answer:
            assert answer.status == 200
    finally:
        if lab is not None:
            lab.terminate()
            lab.wait(timeout=60)
        if (home / "s3lab" / ".venv" / "bin" / "s3lab").exists():
            subprocess.run(
                [*as_user, str(home / "s3lab" / ".venv" / "bin" / "s3lab"), "sandbox", "stop"],
                env=env,
                cwd=home,
                timeout=120,
            )
        sudoers.unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", LEARNER], capture_output=True)
        shutil.rmtree(place, ignore_errors=True)
