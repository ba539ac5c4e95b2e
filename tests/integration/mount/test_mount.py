"""`s3lab mount` / `s3lab unmount`: real FUSE mounts of the SeaweedFS sandbox with rclone and s3fs.

Mountpoint itself cannot be installed here, so its code path runs through tests/standins/mount-s3
(which records its command line and mounts with rclone). Every mount is unmounted by a fixture,
and a module-wide safety net unmounts anything left below the test folders, even after a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import s3lab
from s3lab import backends, mount, processes, sandbox
from s3lab.buckets import cost, make_bucket, remove_bucket
from s3lab.buckets.names import unique_name
from s3lab.errors import AWS_ERRORS, NotInstalledError
from s3lab.mount import semantics
from s3lab.mount import tools as mount_tools
from tests.support import assert_one_line_error, cli, run_cli
from tests.support.mounts import STANDINS, need, need_fuse, observe

REAL = ("rclone", "s3fs")


@pytest.fixture(scope="module")
def mount_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for every mount of this module; whatever is still mounted below it at the end
    is unmounted (the safety net behind each test's own clean-up), then the test checks it."""
    root = tmp_path_factory.mktemp("mounts")
    try:
        yield root
    finally:
        leftovers = mount.unmount_all(root)
        still = [d for d in mount.fuse_mounts() if d.startswith(str(root))]
        assert not still, f"mounts left behind: {still}"
        if leftovers:
            print(f"\nsafety net unmounted: {leftovers}")


@pytest.fixture
def bucket(server: Any) -> Iterator[str]:
    client = server.client()
    name = make_bucket(client, unique_name("mnt"))
    yield name
    remove_bucket(client, name, force=True)


@pytest.fixture
def mounter(mount_root: Path, server: Any) -> Iterator[Callable[..., mount.Mount]]:
    """``mounter(bucket, "name", tool=..., ...)`` mounts below mount_root; all are unmounted."""
    made: list[str] = []
    counter = iter(range(1000))

    def make(bucket: str, name: str = "", **kwargs: Any) -> mount.Mount:
        need_fuse()
        folder = mount_root / (name or f"m{next(counter)}-{os.getpid()}-{time.monotonic_ns()}")
        kwargs.setdefault("lab", server)
        made.append(str(folder))
        return mount.mount(bucket, folder, **kwargs)

    yield make
    for folder in made:
        if folder in mount.fuse_mounts():
            mount.unmount(folder)


def _server_env() -> dict[str, str]:
    return {"S3LAB_BACKEND": "server"}


# --- the semantics data matches what the mounts do -------------------------------------------


@pytest.fixture(scope="module", params=REAL)
def probe_mount(
    request: pytest.FixtureRequest, mount_root: Path, server: Any
) -> Iterator[tuple[str, str, str]]:
    """One mount per program WITHOUT --allow-delete/--allow-overwrite: (tool, dir, bucket)."""
    tool = request.param
    need(tool)
    client = server.client()
    name = make_bucket(client, unique_name("sem"))
    folder = mount_root / f"semantics-{tool}"
    try:
        mount.mount(name, folder, tool=tool, lab=server)
        yield tool, str(folder), name
    finally:
        if str(folder) in mount.fuse_mounts():
            mount.unmount(folder)
        remove_bucket(client, name, force=True)


@pytest.mark.parametrize("name", list(semantics.COMMANDS))
def test_semantics_data_matches_a_real_mount(
    probe_mount: tuple[str, str, str], server: Any, name: str
) -> None:
    tool, directory, bucket = probe_mount
    expected = semantics.semantics(tool)[name]
    seen = observe(directory, server.client(), bucket, name)
    if expected.value is not None:
        assert seen.value == expected.value, f"{tool} df shows {seen.value} 1K-blocks"
        return
    assert seen.works == expected.works, f"{tool} {name}: {seen.stderr}"
    if not expected.works and expected.error:
        assert expected.error in seen.stderr, seen.stderr


@pytest.mark.parametrize("tool", REAL)
def test_flags_do_not_change_what_rclone_or_s3fs_allow(tool: str) -> None:
    # Neither can refuse a delete or an overwrite, so the data must not pretend they do.
    plain = semantics.semantics(tool)
    assert plain == semantics.semantics(tool, allow_delete=True, allow_overwrite=True)
    assert plain["delete"].works and plain["overwrite"].works


def test_mountpoint_data_comes_from_its_docs_and_depends_on_the_flags() -> None:
    default = semantics.semantics("mountpoint")
    allowed = semantics.semantics("mountpoint", allow_delete=True, allow_overwrite=True)
    assert set(default) == set(semantics.COMMANDS) == set(semantics.semantics("s3fs"))
    assert all("Mountpoint docs" in b.source or "seed page" in b.source for b in default.values())
    assert not default["delete"].works and default["delete"].error == "Operation not permitted"
    assert allowed["delete"].works and allowed["overwrite"].works
    assert not allowed["rename_file"].works and not allowed["append"].works
    assert default["df_size"].value == 9007199254740992
    text = semantics.compare("delete", "rclone")
    assert "rclone     works" in text and "mountpoint fails: Operation not permitted" in text


def test_the_semantics_are_rows_of_data_and_semantics_filters_them() -> None:
    rows = semantics.ROWS
    assert {(r.tool, r.name) for r in rows} == {
        (t, n) for t in semantics.TOOLS for n in semantics.COMMANDS
    }
    assert len(rows) == len(semantics.TOOLS) * len(semantics.COMMANDS)  # no duplicates
    assert {r.allowed_by for r in rows if r.allowed_by} == {"allow_delete", "allow_overwrite"}
    assert all(r.tool == "mountpoint" for r in rows if r.allowed_by)
    assert semantics.check_tool("mount-s3") == "mountpoint"
    with pytest.raises(semantics.UsageError, match="unknown mount tool"):
        semantics.semantics("fuse")
    # the chapters reach the same functions through the public API
    assert s3lab.semantics is semantics.semantics and s3lab.compare is semantics.compare


def test_filling_the_df_size_costs_billions() -> None:
    filled = cost.fill_cost(semantics.semantics("mountpoint")["df_size"].value or 0)
    assert round(filled["terabytes"]) == 9_223_372  # 2**63 bytes
    assert 2.5e9 < filled["usd_per_year"] < 2.6e9
    assert filled["usd_per_month"] * 12 == pytest.approx(filled["usd_per_year"])


# --- the command ------------------------------------------------------------------------------


def test_cli_mounts_lists_and_unmounts_with_rclone(
    bucket: str, mount_root: Path, server: Any
) -> None:
    need("rclone")
    folder = mount_root / "cli-rclone"
    # end to end: the real command, in a child process (with the old name of --tool)
    result = run_cli("mount", bucket, str(folder), "--backend", "rclone", env=_server_env())
    try:
        assert result.returncode == 0, result.stderr
        assert "with rclone" in result.stdout
        assert "cannot refuse deletes" in result.stderr  # said, not hidden
        (folder / "hello.txt").write_text("hi\n")
        body = server.client().get_object(Bucket=bucket, Key="hello.txt")["Body"].read()
        assert body == b"hi\n"
        listed = run_cli("mount", "--list", env=_server_env())
        line = next(row for row in listed.stdout.splitlines() if row.startswith(str(folder)))
        assert "rclone" in line and f"s3://{bucket}" in line and "mounted" in line
    finally:
        done = run_cli("unmount", str(folder), env=_server_env())
    assert done.returncode == 0, done.stderr
    assert str(folder) not in mount.fuse_mounts()
    assert not (folder / "hello.txt").exists()  # the folder is an ordinary empty folder again


def test_auto_picks_mountpoint_and_passes_no_secret_on_its_command_line(
    bucket: str, mount_root: Path, server: Any, tmp_path: Path
) -> None:
    need("rclone")  # the stand-in mounts with rclone
    record = tmp_path / "argv.jsonl"
    folder = mount_root / "auto-mountpoint"
    env = {
        **_server_env(),
        "PATH": f"{STANDINS}{os.pathsep}{os.environ['PATH']}",
        "S3LAB_STANDIN_RECORD": str(record),
    }
    result = cli("mount", bucket, str(folder), "--allow-delete", "--prefix", "runs", env=env)
    try:
        assert result.returncode == 0, result.stderr
        assert "with mountpoint" in result.stdout
        assert "auto: Mountpoint is installed" in result.stderr
        (folder / "ckpt.txt").write_text("1\n")
        keys = server.client().list_objects_v2(Bucket=bucket)["Contents"]
        assert [k["Key"] for k in keys] == ["runs/ckpt.txt"]  # --prefix reached the program
    finally:
        cli("unmount", str(folder), env=env)
    seen = json.loads(record.read_text().splitlines()[0])
    argv = seen["argv"]
    assert argv[:3] == [bucket, str(folder), "--foreground"]
    endpoint = server.endpoint_url
    for expected in (
        ["--allow-delete"],
        ["--prefix", "runs/"],
        ["--endpoint-url", endpoint],
        ["--force-path-style"],
        ["--region", "us-east-1"],
        ["--upload-checksums", "off"],
    ):
        assert any(argv[i : i + len(expected)] == expected for i in range(len(argv))), argv
    assert "--allow-overwrite" not in argv and "--profile" not in argv
    assert sandbox.FAKE_SECRET_ACCESS_KEY not in " ".join(argv)
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(seen["aws_variables"])


def test_auto_falls_back_to_rclone_then_s3fs(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {"mountpoint": None, "rclone": "/x/rclone", "s3fs": "/x/s3fs"}
    monkeypatch.setattr(mount_tools, "find_program", lambda tool: installed[tool])
    tool, program, why = mount_tools.pick_tool("auto")
    assert (tool, program) == ("rclone", "/x/rclone") and "sequential writes only" in why
    installed["rclone"] = None
    assert mount_tools.pick_tool("auto")[0] == "s3fs"
    installed["s3fs"] = None
    with pytest.raises(NotInstalledError):
        mount_tools.pick_tool("auto")
    with pytest.raises(NotInstalledError, match="mount-s3"):
        mount_tools.pick_tool("mountpoint")
    assert s3lab.pick_tool is mount_tools.pick_tool  # the name notebooks 60 and 70 call


@pytest.mark.parametrize("tool", REAL)
def test_no_secret_on_the_command_line_or_left_on_disk(
    tool: str, bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    need(tool)
    done = mounter(bucket, tool=tool)
    cmdline = Path(f"/proc/{done.pid}/cmdline").read_bytes().decode().split("\0")
    assert sandbox.FAKE_SECRET_ACCESS_KEY not in " ".join(cmdline)
    assert sandbox.FAKE_ACCESS_KEY_ID not in " ".join(cmdline)
    passwd = [part for part in cmdline if "passwd_file=" in part]
    assert bool(passwd) == (tool == "s3fs")
    for option in ",".join(passwd).split(","):
        if option.startswith("passwd_file="):
            assert not Path(option.split("=", 1)[1]).exists()  # removed once s3fs read it
    assert done.directory not in option if passwd else True


@pytest.mark.parametrize("tool", REAL)
def test_read_only_and_prefix_are_translated(
    tool: str, bucket: str, server: Any, mounter: Callable[..., mount.Mount]
) -> None:
    need(tool)
    server.client().put_object(Bucket=bucket, Key="data/x.txt", Body=b"x\n")
    done = mounter(bucket, tool=tool, read_only=True, prefix="data")
    assert sorted(p.name for p in Path(done.directory).iterdir()) == ["x.txt"]
    removed = subprocess.run(["rm", "x.txt"], cwd=done.directory, capture_output=True, text=True)
    assert removed.returncode != 0 and "Read-only file system" in removed.stderr
    assert not done.notes[1:] or all("cannot refuse" not in note for note in done.notes)


def test_one_bucket_mounted_twice_with_and_without_allow_delete(
    bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    need("rclone")
    first = mounter(bucket, "twice-a", tool="rclone", allow_delete=True)
    second = mounter(bucket, "twice-b", tool="rclone")
    Path(first.directory, "shared.txt").write_text("both see me\n")
    target = Path(second.directory, "shared.txt")
    for _ in range(50):  # rclone re-lists a folder after its 1 s directory cache
        if target.exists():
            break
        time.sleep(0.1)
    assert target.read_text() == "both see me\n"
    assert {m.directory for m in mount.mounts()} >= {first.directory, second.directory}


# --- refusals, failures, stale and busy mounts -----------------------------------------------


def test_refuses_a_folder_with_files(bucket: str, mount_root: Path) -> None:
    need("rclone")
    folder = mount_root / "full"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n")
    result = cli("mount", bucket, str(folder), "--tool", "rclone", env=_server_env())
    assert_one_line_error(result, "not empty")
    assert (folder / "keep.txt").read_text() == "mine\n"
    assert str(folder) not in mount.fuse_mounts()


def test_refuses_a_folder_inside_a_mount_and_a_folder_already_mounted(
    bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    need("rclone")
    outer = mounter(bucket, "outer", tool="rclone")
    result = cli("mount", bucket, f"{outer.directory}/inner", "--tool", "rclone", env=_server_env())
    assert_one_line_error(result, "inside another FUSE mount")
    again = cli("mount", bucket, outer.directory, "--tool", "rclone", env=_server_env())
    assert_one_line_error(again, "already a mount", "s3lab unmount")


@pytest.mark.integration  # reaches a running sandbox
def test_missing_bucket_and_missing_program_are_one_line_errors(
    mount_root: Path, tmp_path: Path
) -> None:
    result = cli(
        "mount",
        "no-such-bucket-here",
        str(mount_root / "nb"),
        "--tool",
        "rclone",
        env=_server_env(),
    )
    assert_one_line_error(result, "does not exist", AWS_ERRORS["404"][1])  # the table's fix
    bare = cli(
        "mount",
        "b",
        str(tmp_path / "x"),
        "--tool",
        "mountpoint",
        env={**_server_env(), "PATH": str(tmp_path)},
    )
    assert_one_line_error(bare, "mount-s3", "not installed", "--tool rclone")
    assert_one_line_error(cli("unmount", str(tmp_path)), "not mounted")
    assert_one_line_error(cli("mount", "--tool", "rclone"), "BUCKET")


def test_tool_names_the_program_and_backend_is_its_hidden_old_name() -> None:
    shown = cli("mount", "--help")
    assert "--tool" in shown.stdout and "--backend" not in shown.stdout
    for flag in ("--tool", "--backend"):
        assert_one_line_error(cli("mount", flag, "fuse", "b", "d"), "invalid choice")


def test_reports_the_programs_own_error(
    bucket: str, mounter: Callable[..., mount.Mount], monkeypatch: pytest.MonkeyPatch
) -> None:
    need("rclone")
    real = mount_tools.PLANS["rclone"]

    def broken(*args: Any) -> mount_tools.MountPlan:
        plan = real(*args)
        plan.argv.append("--no-such-flag")
        return plan

    monkeypatch.setitem(mount_tools.PLANS, "rclone", broken)
    with pytest.raises(mount.MountError) as caught:
        mounter(bucket, "broken", tool="rclone")
    assert "unknown flag: --no-such-flag" in caught.value.message
    assert caught.value.hint.endswith(".log") and Path(caught.value.hint.split()[-1]).exists()


@pytest.mark.parametrize("tool", REAL)
def test_a_stale_mount_is_detected_and_cleaned(
    tool: str, bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    need(tool)
    first = mounter(bucket, f"stale-{tool}", tool=tool)
    os.kill(first.pid, signal.SIGKILL)  # the program dies; the kernel keeps the mount
    for _ in range(50):
        if mount.is_stale(first.directory):
            break
        time.sleep(0.1)
    assert mount.is_stale(first.directory)
    assert [m.state for m in mount.mounts() if m.directory == first.directory] == ["stale"]
    again = mounter(bucket, f"stale-{tool}", tool=tool)
    assert any("cleaned a stale mount" in note for note in again.notes)
    assert list(Path(again.directory).iterdir()) == []


def test_a_busy_folder_is_unmounted_lazily(
    bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    need("rclone")
    done = mounter(bucket, "busy", tool="rclone")
    sleeper = subprocess.Popen(["sleep", "60"], cwd=done.directory)
    try:
        message = mount.unmount(done.directory)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "busy" in message and "lazily" in message
    assert done.directory not in mount.fuse_mounts()


def test_a_profile_with_an_endpoint_reaches_every_program_without_keys_in_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kopah-style: keys in the credentials file, the endpoint in the profile (nothing runs).
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(
        "[profile kopah]\nregion = us-east-1\nendpoint_url = https://s3.kopah.example\n"
    )
    credentials.write_text(
        f"[kopah]\naws_access_key_id = {sandbox.FAKE_ACCESS_KEY_ID}\n"
        f"aws_secret_access_key = {sandbox.FAKE_SECRET_ACCESS_KEY}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for variable in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    conn = mount.connection(backends.resolve("kopah"))
    assert (conn.profile, conn.endpoint_url, conn.path_style) == (
        "kopah",
        "https://s3.kopah.example",
        True,
    )
    assert "AWS_ACCESS_KEY_ID" not in conn.env and conn.env["AWS_PROFILE"] == "kopah"
    opts = {"allow_delete": True, "allow_overwrite": False, "read_only": False}
    opts |= {"prefix": "", "uid": 1000, "gid": None}
    target = str(tmp_path / "m")
    plans = {
        tool: mount_tools.PLANS[tool](tool, "b", target, conn, opts) for tool in semantics.TOOLS
    }
    mp = plans["mountpoint"].argv
    assert mp[mp.index("--profile") + 1] == "kopah" and "--uid" in mp
    assert mp[mp.index("--endpoint-url") + 1] == "https://s3.kopah.example"
    rc = plans["rclone"]
    assert rc.env["RCLONE_S3_ENDPOINT"] == "https://s3.kopah.example"
    assert rc.env["AWS_PROFILE"] == "kopah" and rc.env["RCLONE_S3_ENV_AUTH"] == "true"
    s3 = plans["s3fs"]
    try:
        passwd = Path(s3.secret_dir) / "passwd"
        assert passwd.stat().st_mode & 0o777 == 0o600
        assert Path(s3.secret_dir).stat().st_mode & 0o077 == 0
        assert not str(passwd).startswith((target, str(Path(__file__).parents[3])))
        assert "url=https://s3.kopah.example" in s3.argv[-1]
    finally:
        shutil.rmtree(s3.secret_dir)
    for plan in plans.values():
        assert sandbox.FAKE_SECRET_ACCESS_KEY not in " ".join(plan.argv)
        assert sandbox.FAKE_ACCESS_KEY_ID not in " ".join(plan.argv)


def test_a_reused_pid_in_a_mount_record_is_never_signalled(
    bucket: str, mounter: Callable[..., mount.Mount]
) -> None:
    """The record's pid may since belong to an unrelated process, even one named rclone."""
    need("rclone")
    done = mounter(bucket, "reused-pid", tool="rclone")
    stranger = subprocess.Popen(["bash", "-c", "exec -a rclone sleep 300"], start_new_session=True)
    try:
        for _ in range(50):  # until bash has exec'd: then its command line says rclone
            found = processes.identify(stranger.pid)
            if found and found.cmdline[:1] == ("rclone",):
                break
            time.sleep(0.02)
        record_file = mount._record_path(done.directory)
        record = json.loads(record_file.read_text())
        record_file.write_text(json.dumps({**record, "pid": stranger.pid}))
        assert "unmounted" in mount.unmount(done.directory, timeout=2)
        assert stranger.poll() is None, "unmount signalled a process it did not start"
        assert done.directory not in mount.fuse_mounts()
    finally:
        stranger.kill()
        stranger.wait()
        child = mount._CHILDREN.pop(done.pid, None)  # the real rclone exited when unmounted
        if child is not None:
            child.wait(10)
