"""Stand-ins for what AWS publishes, made at test time: nothing is downloaded, nothing committed.

- `Signer`: a throwaway OpenPGP key in its own gpg home, to sign stand-ins like AWS signs theirs.
- `awscli_zip`: a zip with the AWS CLI v2 bundle's layout (``aws/install``, ``aws/dist/aws``);
  its installer honours ``-i``/``-b``/``--update`` and refuses to reinstall without ``--update``,
  like the real one; its ``aws`` prints ``aws-cli/2.x.y Python/... Linux/... exe/x86_64``.
- `awscli_source`: a source release named like v2's (``awscli-2.x.y.tar.gz``) that pip builds
  (flit_core, as the real one uses) into ``aws`` and ``aws_completer`` printing the same line.
- `mountpoint_deb`: a small .deb named ``mount-s3`` (dpkg-deb) whose ``/usr/bin/mount-s3``
  prints ``mount-s3 1.x.y``.
- `StandinServer`: an HTTP server on 127.0.0.1 (a thread) that serves them, honours Range
  requests, logs every request, and can answer with an error or cut a body short on demand.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Signer:
    """One generated signing key (ed25519) in a private, short-lived gpg home."""

    def __init__(self, name: str = "s3lab test key", made_in_2020_for_a_day: bool = False) -> None:
        # Short path under /tmp: gpg-agent's socket path must stay under ~100 characters.
        self.home = Path(tempfile.mkdtemp(prefix="s3lab-gpg-"))
        # An expired key, like an old copy of the AWS CLI key: made and used in 2020, for a day.
        made = ["--faked-system-time", "20200101T000000"] if made_in_2020_for_a_day else []
        # Signed ten minutes after it was made: a faked clock starts again at its given time in
        # each gpg run, and a signature from before the key's own creation (the key took a
        # second or more to make, under load) is refused as a "time warp".
        self.time = ["--faked-system-time", "20200101T001000"] if made_in_2020_for_a_day else []
        self._gpg(
            *made,
            "--passphrase",
            "",
            "--quick-gen-key",
            f"{name} <test@example.invalid>",
            "ed25519",
            "sign",
            "1d" if made_in_2020_for_a_day else "never",
        )
        listing = self._gpg("--list-keys", "--with-colons").stdout
        self.fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        self.public_key = self._gpg("--armor", "--export", self.fingerprint).stdout.encode()

    def _gpg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--pinentry-mode", "loopback", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    def sign(self, data: bytes, armor: bool = True) -> bytes:
        """A detached signature of ``data`` (armored like AWS's ``.sig`` and ``.asc`` files)."""
        source = self.home / "to-sign"
        source.write_bytes(data)
        target = self.home / "signature"
        target.unlink(missing_ok=True)
        armored = ["--armor"] if armor else []
        self._gpg(*self.time, *armored, "--detach-sign", "-o", str(target), str(source))
        return target.read_bytes()

    def close(self) -> None:
        """Stop this home's gpg-agent and delete the key."""
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "all"], check=False, timeout=30
        )
        shutil.rmtree(self.home, ignore_errors=True)


AWS_EXE = """#!/bin/sh
# Stand-in for the AWS CLI v2 executable: it only knows --version.
echo "aws-cli/{version} Python/3.11.8 Linux/6.1.0-standin exe/{arch}.debian.12 prompt/off"
"""

# Same flags, folder layout and refusals as the real bundle's installer (aws-facts.md section 1):
# files in <install-dir>/v2/<version>, a v2/current link, links in <bin-dir>.
AWS_INSTALL = """#!/bin/sh
set -e
install_dir=/usr/local/aws-cli
bin_dir=/usr/local/bin
update=no
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--install-dir) install_dir=$2; shift ;;
    -b|--bin-dir) bin_dir=$2; shift ;;
    -u|--update) update=yes ;;
    *) echo "Got an unexpected argument: $1" >&2; exit 1 ;;
  esac
  shift
done
here=$(cd "$(dirname "$0")" && pwd)
version=$("$here/dist/aws" --version | cut -d ' ' -f 1 | cut -d / -f 2)
target="$install_dir/v2/$version"
if [ -L "$install_dir/v2/current" ] && [ "$update" = no ]; then
  echo "Found preexisting AWS CLI installation: $install_dir/v2/current. Please rerun install script with --update flag." >&2
  exit 1
fi
if [ -d "$target" ]; then
  echo "Found same AWS CLI version: $target. Skipping install."
  exit 0
fi
mkdir -p "$target/bin"
cp -r "$here/dist" "$target/dist"
ln -s ../dist/aws "$target/bin/aws"
ln -snf "$target" "$install_dir/v2/current"
mkdir -p "$bin_dir"
ln -sf "$install_dir/v2/current/bin/aws" "$bin_dir/aws"
echo "You can now run: $bin_dir/aws --version"
"""


def awscli_zip(version: str = "2.0.1", arch: str = "x86_64") -> bytes:
    """The bytes of a zip laid out like ``awscli-exe-linux-<arch>.zip``, exec bits recorded."""
    files = {
        "aws/install": (AWS_INSTALL, 0o755),
        "aws/README.md": ("# AWS CLI v2 (s3lab stand-in)\n", 0o644),
        "aws/dist/aws": (AWS_EXE.format(version=version, arch=arch), 0o755),
        "aws/dist/aws_completer": ("#!/bin/sh\nexit 0\n", 0o755),
    }
    path = Path(tempfile.mkstemp(suffix=".zip")[1])
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, (text, mode) in files.items():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, text)
        return path.read_bytes()
    finally:
        path.unlink()


def awscli_source(folder: Path, version: str = "2.0.9") -> Path:
    """``folder/awscli-VERSION.tar.gz``: an sdist whose ``aws --version`` says VERSION."""
    import tarfile

    top = folder / f"awscli-{version}"
    (top / "awscli").mkdir(parents=True)
    (top / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.7.1,<4"]\nbuild-backend = "flit_core.buildapi"\n'
        f'[project]\nname = "awscli"\nversion = "{version}"\ndescription = "stand-in"\n'
        '[project.scripts]\naws = "awscli:main"\naws_completer = "awscli:main"\n'
    )
    (top / "awscli" / "__init__.py").write_text(
        "import platform, sys\n"
        "def main():\n"
        f"    print('aws-cli/{version} Python/' + platform.python_version() + ' Linux/x source/x86_64')\n"
        "    return 0\n"
    )
    tarball = folder / f"awscli-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(top, arcname=top.name)
    shutil.rmtree(top)
    return tarball


def mountpoint_deb(version: str = "1.19.0") -> bytes:
    """The bytes of a .deb named mount-s3 whose /usr/bin/mount-s3 prints its version."""
    root = Path(tempfile.mkdtemp(prefix="s3lab-deb-"))
    try:
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN" / "control").write_text(
            "Package: mount-s3\n"
            f"Version: {version}\n"
            "Architecture: all\n"
            "Maintainer: s3lab tests <test@example.invalid>\n"
            "Description: stand-in for Mountpoint for Amazon S3 (s3lab tests only)\n"
        )
        exe = root / "usr" / "bin" / "mount-s3"
        exe.parent.mkdir(parents=True)
        exe.write_text(f'#!/bin/sh\necho "mount-s3 {version}"\n')
        exe.chmod(0o755)
        out = root.with_suffix(".deb")
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)],
            capture_output=True,
            check=True,
            timeout=60,
        )
        data = out.read_bytes()
        out.unlink()
        return data
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class StandinServer:
    """Files served on 127.0.0.1; ``faults[path]`` lists what the next requests get instead.

    A fault is an HTTP status (404, 500...) or ``"truncate"``: the full Content-Length is
    announced, half the body sent, and the connection closed, like a dropped download.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, list[int | str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path
                standin.requests.append((path, self.headers.get("Range", "")))
                pending = standin.faults.get(path) or []
                fault = pending.pop(0) if pending else None
                if isinstance(fault, int):
                    self.send_error(fault)
                    return
                body = standin.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes=") and wanted.endswith("-"):
                    start = int(wanted[6:-1])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if fault == "truncate":
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, path: str) -> int:
        """How many requests asked for ``path``."""
        return sum(1 for asked, _ in self.requests if asked == path)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
