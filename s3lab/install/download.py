"""Download, check and unpack a release: what any careful install does, whatever the tool.

- :func:`download` retries what is worth retrying (5xx, a reset connection, a short body) with
  backoff, resumes with an HTTP Range request, and never leaves half a file under the real name.
- :func:`verify_signature` accepts a detached signature only if ``gpgv`` says it is good AND the
  key that made it has one of the pinned fingerprints: a key file from anywhere adds no trust.
  gpgv is on every Debian and Ubuntu system (apt needs it), so no ``sudo apt install gpg``.
- :func:`extract_zip` unpacks with Python's zipfile, keeping executable bits, so ``unzip`` is
  not needed; a staging folder is renamed only when everything is out.

Nothing here prints: how a job goes is told to a :class:`Progress`, whose parts default to
silence. The command line passes one that prints, so a person sees the same lines as ever.
"""

from __future__ import annotations

import base64
import contextlib
import re
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from s3lab.errors import InstallError, NotInstalledError

# How patient a download is unless told otherwise (S3LAB_DOWNLOAD_* override these).
RETRIES = 4
BACKOFF = 1.0  # seconds before the first retry; doubles each time
TIMEOUT = 60.0  # seconds without an answer before a try counts as failed

# A byte counter for one download: called with the file's name, its size (None: unknown) and
# the bytes already there (a resume); yields the function to call with each chunk's length.
Meter = Callable[[str, "int | None", int], AbstractContextManager[Callable[[int], None]]]


def _silent(line: str) -> None:
    """Tell no one: the default, because a library does not print."""


@dataclass(frozen=True)
class Progress:
    """Where a long job tells a person how it goes; by default it tells no one.

    ``say`` gets the lines of the job itself (the command line prints them on stdout), ``warn``
    the trouble being dealt with, such as a retry (stderr), and ``meter`` counts the bytes of
    each download (the command line draws a tqdm bar). A notebook or a test can collect them.
    """

    say: Callable[[str], None] = _silent
    warn: Callable[[str], None] = _silent
    meter: Meter | None = None


@contextlib.contextmanager
def _no_meter(name: str, total: int | None, initial: int) -> Iterator[Callable[[int], None]]:
    yield lambda _count: None


# --- fingerprints -------------------------------------------------------------------------------


def pretty_fingerprint(fpr: str) -> str:
    """``FB5D B77F ...``: groups of four, the way the AWS docs print it, easy to compare."""
    fpr = normalize_fingerprint(fpr)
    return " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4))


def normalize_fingerprint(fpr: str) -> str:
    """Upper case without spaces, so pasted fingerprints compare equal to gpg's."""
    return re.sub(r"\s+", "", fpr).upper().removeprefix("0X")


# --- downloads ----------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying: a 5xx answer, a reset connection, a short body."""


def download(
    url: str,
    dest: Path,
    *,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    timeout: float = TIMEOUT,
    progress: Progress | None = None,
) -> Path:
    """Fetch ``url`` into ``dest``: retries with backoff, resumes, never a half file.

    The bytes go to ``dest.part``; an interrupted transfer resumes with an HTTP Range request
    (or restarts if the server ignores it), and only a complete file is renamed to ``dest``.
    A 4xx answer is not retried: asking again would get the same answer.

    Raises:
        InstallError: every try failed.
    """
    progress = progress or Progress()
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    last: Exception | None = None
    try:
        for attempt in range(retries + 1):
            if attempt:
                delay = backoff * 2 ** (attempt - 1)
                progress.warn(
                    f"  retrying in {delay:g} s ({last}; attempt {attempt + 1} of {retries + 1})"
                )
                time.sleep(delay)
            try:
                _fetch(url, part, timeout, progress.meter or _no_meter)
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


def _fetch(url: str, part: Path, timeout: float, meter: Meter) -> None:
    """One try at ``url``, appending to ``part``; raises _Transient for what a retry may cure."""
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
    with response:
        status = getattr(response, "status", None) or 200
        if have and status != 206:
            have = 0  # the server sent the whole file: restart instead of appending
        length = response.headers.get("Content-Length")
        total = int(length) + have if length and length.isdigit() else None
        name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "download"
        with part.open("ab" if have else "wb") as out, meter(name, total, have) as count:
            try:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    count(len(chunk))
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
    data: Path,
    signature: Path,
    key_file: Path,
    fingerprints: Sequence[str],
    progress: Progress | None = None,
) -> str:
    """Check a detached signature; return the signing key's fingerprint, or raise.

    Accepted only if gpgv says the signature is good AND the primary fingerprint of the key that
    made it is one of ``fingerprints``. A key file from anywhere can therefore add no trust.
    On any failure the downloaded file and its signature are deleted.

    Raises:
        InstallError: the signature does not check out (the download is deleted).
        NotInstalledError: neither gpgv nor gpg is installed.
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
                (progress or Progress()).say(
                    "  note: this copy of the key has expired; the signature itself is good"
                )
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

    Raises:
        InstallError: the archive is not a zip, or holds an unsafe path or link.
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
                        raise InstallError(
                            f"unsafe link {info.filename} in {archive.name}",
                            "do not install it: the archive points outside its folder; "
                            "report it to the publisher",
                        )
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
