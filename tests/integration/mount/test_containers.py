"""The containers page (book/containers.md), method 1, run for real with podman.

A bucket is mounted on the host (rclone, on the SeaweedFS sandbox) and bind-mounted into a
container, which writes checkpoints with no AWS keys and no FUSE of its own. The page's two
warnings are checked as well: a container started before the mount sees the empty folder, and
``bind-propagation=rslave`` shows it a later mount only when the host folder is on a shared mount.

No registry is reachable here, so the image is built from local parts: busybox in an otherwise
empty root file system, loaded with ``podman import``. This machine's podman needs runc and
explicit limits (shared/reference); the flags are harmless elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lab import mount
from s3lab.buckets import make_bucket, remove_bucket
from s3lab.buckets.names import unique_name
from tests.support import unavailable
from tests.support.mounts import need

PODMAN_RUN = [
    "podman",
    "--runtime",
    "runc",
    "run",
    "--rm",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tiny local image (busybox only), removed again at the end of the module."""
    if shutil.which("podman") is None or shutil.which("busybox") is None:
        unavailable(
            "podman or busybox is not installed (run `bash tasks.sh setup` as root)",
            "the container tests",
        )
    root = tmp_path_factory.mktemp("rootfs")
    (root / "bin").mkdir()
    shutil.copy2(shutil.which("busybox") or "", root / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "echo", "env", "rm", "sleep", "test", "[", "true"):
        (root / "bin" / applet).symlink_to("busybox")
    tag = f"localhost/s3lab-test-busybox:{os.getpid()}"
    archive = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True)
    made = subprocess.run(
        ["podman", "import", "-", tag], input=archive.stdout, capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr.decode()
    try:
        smoke = subprocess.run(
            [*PODMAN_RUN, tag, "true"], capture_output=True, text=True, timeout=120, check=False
        )
        if smoke.returncode != 0:
            # Installed but unable to run (no overlay file system, no cgroups, ...): a limit of
            # the machine, like a missing /dev/fuse, so a skip with podman's own words.
            pytest.skip(f"podman cannot run a container here: {smoke.stderr.strip()[-300:]}")
        yield tag
    finally:
        _podman("rmi", "--force", tag)


@pytest.fixture
def bucket(server: Any) -> Iterator[str]:
    """A bucket that already holds one checkpoint under runs/exp1/."""
    client = server.client()
    name = make_bucket(client, unique_name("ctr"))
    client.put_object(Bucket=name, Key="runs/exp1/ckpt-000000.txt", Body=b"step 0\n")
    yield name
    remove_bucket(client, name, force=True)


@pytest.fixture
def folder(tmp_path: Path, server: Any) -> Iterator[Path]:
    """Where the bucket gets mounted; unmounted after the test whatever happened."""
    need("rclone")
    target = tmp_path / "ckpt"
    target.mkdir()
    yield target
    if str(target) in mount.fuse_mounts():
        mount.unmount(target)


def _mount(bucket: str, target: Path, server: Any) -> None:
    mount.mount(bucket, target, tool="rclone", prefix="runs/exp1", allow_delete=True, lab=server)


def test_a_container_writes_checkpoints_into_the_bucket(
    image: str, bucket: str, folder: Path, server: Any
) -> None:
    _mount(bucket, folder, server)
    script = (
        "echo 'step 1' > /ckpt/ckpt-000001.txt && echo 'step 2' > /ckpt/ckpt-000002.txt"
        " && rm /ckpt/ckpt-000000.txt && ls /ckpt && env"
    )
    ran = subprocess.run(
        [*PODMAN_RUN, "-v", f"{folder}:/ckpt", image, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "ckpt-000001.txt" in ran.stdout and "ckpt-000002.txt" in ran.stdout
    assert "AWS_" not in ran.stdout  # the container got a folder, not keys
    client = server.client()
    keys = [i["Key"] for i in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["runs/exp1/ckpt-000001.txt", "runs/exp1/ckpt-000002.txt"]
    body = client.get_object(Bucket=bucket, Key="runs/exp1/ckpt-000002.txt")["Body"].read()
    assert body == b"step 2\n"


def _started_then_mounted(
    image: str, volume: str, control: Path, mount_now: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    """Start a container that waits, mount on the host, then let it list /ckpt."""
    script = "echo > /ctl/started; while [ ! -e /ctl/go ]; do sleep 0.1; done; ls -A /ckpt"
    child = subprocess.Popen(
        [*PODMAN_RUN, "--mount", volume, "-v", f"{control}:/ctl", image, "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (control / "started").exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the container did not start in 60 s"
            time.sleep(0.05)
        mount_now()
        (control / "go").touch()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_a_container_started_before_the_mount_sees_the_empty_folder(
    image: str, bucket: str, folder: Path, server: Any, tmp_path: Path
) -> None:
    control = tmp_path / "control"
    control.mkdir()
    volume = f"type=bind,source={folder},target=/ckpt"
    ran = _started_then_mounted(image, volume, control, lambda: _mount(bucket, folder, server))
    assert ran.returncode == 0, ran.stderr
    assert (folder / "ckpt-000000.txt").exists()  # the host sees the bucket ...
    assert ran.stdout.strip() == ""  # ... the container still sees the folder under it


def test_rslave_shows_a_later_mount_when_the_host_folder_is_shared(
    image: str, bucket: str, server: Any, tmp_path: Path
) -> None:
    need("rclone")
    if os.geteuid() != 0:
        unavailable(
            "making a shared mount (as systemd does for /) needs root", "the container tests"
        )
    # Many CI machines and containers have a private /, unlike a systemd host: make the
    # folder's parent a shared mount, as / is there.
    shared = tmp_path / "shared"
    target = shared / "ckpt"
    control = tmp_path / "control"
    target.mkdir(parents=True)
    control.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        volume = f"type=bind,source={target},target=/ckpt,bind-propagation=rslave"
        ran = _started_then_mounted(image, volume, control, lambda: _mount(bucket, target, server))
    finally:
        if str(target) in mount.fuse_mounts():
            mount.unmount(target)
        subprocess.run(["umount", str(shared)], check=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["ckpt-000000.txt"]
