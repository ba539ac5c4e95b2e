"""Copies between a folder and a bucket: put, get and sync, in parallel, resumable.

Read the three functions at the top first: each makes a *plan* (which file goes to which key,
what is already there) and runs it. That is all a learner needs to know about ``s3lab.put``.

Below them is the engine room. The plan runs on boto3's transfer machinery (s3transfer):
multipart above a threshold, many parts and files at once. When the AWS Common Runtime
(``awscrt``) is installed, its C client does the requests instead: per request it spends a
fraction of the CPU that Python does, which is what limits copying many small files. boto3 would
use the CRT only on AWS's own endpoints, so :func:`s3lab.buckets.engines.transfer_manager` (the
one function that chooses) hands the client's endpoint and credentials to the CRT pieces itself.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from s3lab import clients
from s3lab.buckets import ObjectInfo, engines, iter_objects, localfiles, names, split_url, uploads
from s3lab.buckets.engines import MULTIPART_THRESHOLD
from s3lab.errors import (
    BucketError,
    EndpointError,
    Interrupted,
    PartialError,
    S3LabError,
    UsageError,
    reraise,
    translate,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


# --- put, get, sync ------------------------------------------------------------------------------


def put(
    client: S3Client, source: str | Path, url: str, *, quiet: bool = False, engine: str = "auto"
) -> TransferPlan:
    """Upload a file or a folder to ``s3://bucket/prefix``; returns what was done."""
    plan = plan_upload(client, source, url, only_changed=False)
    run_plan(client, plan, quiet=quiet, engine=engine)
    return plan


def get(
    client: S3Client, url: str, target: str | Path, *, quiet: bool = False, engine: str = "auto"
) -> TransferPlan:
    """Download one object or everything under a prefix; returns what was done."""
    plan = plan_download(client, url, target, only_changed=False)
    run_plan(client, plan, quiet=quiet, engine=engine)
    return plan


def sync(
    client: S3Client,
    source: str | Path,
    target: str | Path,
    *,
    dry_run: bool = False,
    quiet: bool = False,
    engine: str = "auto",
) -> TransferPlan:
    """Copy only what is missing or different, in whichever direction the ``s3://`` side says.

    Safe to interrupt: run it again and it continues where it stopped.

    Raises:
        UsageError: not one local folder and one ``s3://`` location.
    """
    up = str(target).startswith("s3://")
    if up == str(source).startswith("s3://"):
        raise UsageError(
            "sync needs one local folder and one s3:// location",
            "e.g. s3lab bucket sync ./data s3://BUCKET/data",
        )
    if up:
        plan = plan_upload(client, source, str(target), only_changed=True)
    else:
        plan = plan_download(client, str(source), target, only_changed=True)
    if dry_run:
        _finish(plan, dry_run=True)
    else:
        run_plan(client, plan, quiet=quiet, engine=engine)
    return plan


# --- plans: which file goes to which key ---------------------------------------------------------


@dataclass
class TransferPlan:
    """What a copy or sync will do (and, after it ran, did)."""

    direction: str  # "up" or "down"
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (local path, key)
    bytes: int = 0
    skipped: int = 0  # already there (sync)
    bucket: str = ""
    # what could not be copied, and why: (a local path or an s3:// URL, the reason)
    refused: list[tuple[str, str]] = field(default_factory=list)
    single: bool = False  # one file or object: its failure is the command's error

    def warnings(self) -> list[str]:
        """One ``skipped WHAT: WHY`` line per item that could not be copied."""
        return [f"skipped {_short(what)}: {why}" for what, why in self.refused]

    def lines(self) -> list[str]:
        """One ``(dry run) upload: a -> s3://b/k`` line per file, sorted."""
        verb = "upload" if self.direction == "up" else "download"
        out = []
        for local, key in sorted(self.pairs, key=lambda p: p[1]):
            source, target = (local, f"s3://{self.bucket}/{key}")
            if self.direction == "down":
                source, target = target, local
            out.append(f"{verb}: {source} -> {target}")
        return out


def _short(text: str, most: int = 120) -> str:
    """``text``, or its start and end around "...": a 1,000-byte key is no line to read."""
    return text if len(text) <= most else f"{text[: most - 30]}...{text[-27:]}"


def _join(prefix: str, rest: str) -> str:
    return f"{prefix.rstrip('/')}/{rest}" if prefix else rest


def plan_upload(
    client: S3Client, source: str | Path, url: str, *, only_changed: bool
) -> TransferPlan:
    """Pair local files with keys; with ``only_changed``, drop those already there (same size).

    Comparing sizes (and that the object is newer than the file) is what ``aws s3 sync`` does
    too; it is what makes a rerun after an interruption copy only what is missing.

    Raises:
        UsageError: ``source`` does not exist.
    """
    bucket, prefix = split_url(url)
    path = Path(_not_empty(source, "source"))
    if not path.exists():
        raise UsageError(f"{path} does not exist", "check the path (ls it)")
    plan = TransferPlan("up", bucket=bucket)
    if prefix:
        names.require_valid_key(prefix.rstrip("/") or prefix, " (the prefix)")
    if path.is_file():
        key = _join(prefix, path.name) if (not prefix or prefix.endswith("/")) else prefix
        names.require_valid_key(key)  # one file: refused before any request
        why = localfiles.unreadable(path)
        if why:
            raise UsageError(f"{path}: {why}", "check the file's permissions (ls -l it)")
        files = [(path, key)]
        plan.single = True
    elif not path.is_dir():
        raise UsageError(f"{path} is not a file or a folder", "upload a regular file or folder")
    else:
        files = []
        for local, rest, why in localfiles.entries(path):
            key = _join(prefix, rest)
            broken = names.key_problem(key)
            if why or broken:
                plan.refused.append((str(local), why or f"its key {broken}"))
            else:
                files.append((local, key))
    existing: dict[str, ObjectInfo] = {}
    if only_changed:
        existing = {o.key: o for o in iter_objects(client, bucket, prefix)}
    for local, key in files:
        stat = local.stat()
        there = existing.get(key)
        if there and there.size == stat.st_size and _not_older(there.modified, stat.st_mtime):
            plan.skipped += 1
            continue
        plan.pairs.append((str(local), key))
        plan.bytes += stat.st_size
    return plan


def _not_empty(path: str | Path, what: str) -> str | Path:
    """Refuse an empty path: ``Path("")`` is the current folder, which nobody means by it."""
    if not str(path).strip():
        raise UsageError(f"the {what} path is empty", "give a file or folder, e.g. ./data")
    return path


def _not_older(modified: _dt.datetime | None, mtime: float) -> bool:
    return modified is None or modified.timestamp() >= mtime - 1


def plan_download(
    client: S3Client, url: str, target: str | Path, *, only_changed: bool
) -> TransferPlan:
    """Pair keys under ``url`` with local paths under ``target`` (or the one file ``target``).

    Raises:
        BucketError: nothing is stored under the URL.
    """
    bucket, prefix = split_url(url)
    plan = TransferPlan("down", bucket=bucket)
    base = Path(_not_empty(target, "target"))
    if prefix:
        names.require_valid_key(prefix.rstrip("/") or prefix, " (the prefix)")
    listed = list(iter_objects(client, bucket, prefix))
    # A key ending in "/" with no bytes is a folder marker (the console makes them): nothing
    # to copy. One that holds bytes cannot be a file: no file name ends in "/".
    objects = [o for o in listed if not o.key.endswith("/")]
    single = [o for o in objects if o.key == prefix]
    if single and not prefix.endswith("/"):
        local = base / Path(prefix).name if base.is_dir() else base
        why = localfiles.unwritable(local, base.parent if local == base else base, set())
        if why:
            raise S3LabError(
                f"cannot write s3://{bucket}/{prefix} to {local}: {why}",
                "choose another local path: its folder must be a folder, and writable",
            )
        objects, pairs = single, [(single[0], local)]
        plan.single = True
    else:
        if base.exists() and not base.is_dir():  # the whole copy needs a folder: no partial
            raise UsageError(f"{base} is a file, not a folder", "download a prefix to a folder")
        cut = len(prefix) if (not prefix or prefix.endswith("/")) else len(prefix) + 1
        pairs = []
        planned: set[Path] = set()
        for obj in listed:
            rest = obj.key[cut:]
            if obj.key.endswith("/"):
                if obj.size:
                    why = (
                        f"its key ends in '/' but it holds {obj.size:,} bytes: no file is named so"
                    )
                    plan.refused.append((f"s3://{bucket}/{obj.key}", why))
                continue
            local = base / rest.lstrip("/")
            why = localfiles.segments_problem(rest.lstrip("/")) or localfiles.unwritable(
                local, base, planned
            )
            if why:
                plan.refused.append((f"s3://{bucket}/{obj.key}", why))
                continue
            planned.add(local)
            pairs.append((obj, local))
        if prefix and not listed:
            raise BucketError(f"nothing at s3://{bucket}/{prefix}", "list it: s3lab bucket list")
    for obj, local in pairs:
        if only_changed and local.exists() and local.stat().st_size == obj.size:
            plan.skipped += 1
            continue
        plan.pairs.append((str(local), obj.key))
        plan.bytes += obj.size
    return plan


# --- the engine room: running a plan on s3transfer or the CRT ---------------------------------


def run_plan(
    client: S3Client, plan: TransferPlan, *, quiet: bool = False, engine: str = "auto"
) -> int:
    """Carry out a plan in parallel with a progress bar; returns the number of files copied.

    Downloads go to a temporary name and are renamed when complete, so an interrupted run
    leaves no half file; running the same sync again copies only what is missing. A big upload
    is recorded in S3LAB_HOME while it runs: if it fails (or the process dies), the next run
    aborts its multipart upload first, so none stays open (and billed) on the server. A copy
    that makes no progress for :func:`clients.stall_seconds` is given up as stalled.

    One file that cannot be read or written locally does not stop the others: it joins
    ``plan.refused``, and once the rest is copied a :class:`PartialError` names the count.
    An error from S3 itself (a missing bucket, refused keys, a dead server) stops the copy.

    Raises:
        Interrupted: Ctrl-C; the message says what was copied and what was not.
        PartialError: some files could not be copied; the rest were.
    """
    if not plan.pairs:
        _finish(plan)
        return 0
    big = _big_uploads(plan)
    if big:
        uploads.clean_up(client, plan.bucket, big)  # what an earlier, failed run left open
        uploads.record(client, plan.bucket, big)
    manager = engines.transfer_manager(client, engine=engine, direction=plan.direction)
    progress = _Progress(plan.bytes, "upload" if plan.direction == "up" else "download", quiet)
    futures: list[Any] = []  # (pair, future) as submitted; an exception that stops it all
    # Submitting blocks once many copies are in flight; a helper thread does it, so that this
    # one can watch for a stall (and for Ctrl-C) all along.
    submitter = threading.Thread(target=_submit, args=(manager, plan, progress, futures))
    submitter.daemon = True
    try:
        submitter.start()
        _wait(futures, progress, client.meta.endpoint_url)
        done = []
        for entry in futures:
            if isinstance(entry, BaseException):
                raise entry
            pair, future = entry
            try:
                future.result()
            except Exception as exc:
                why = _local_failure(exc, plan)
                if not why:
                    raise
                plan.refused.append((pair[0] if plan.direction == "up" else pair[1], why))
                continue
            done.append(pair)
    except KeyboardInterrupt:
        _shutdown(manager)
        uploads.clean_up(client, plan.bucket, big)
        raise Interrupted(_what_was_done(plan, futures)) from None
    except Exception as exc:
        _shutdown(manager)
        uploads.clean_up(client, plan.bucket, big)
        _failed(exc, f"copying to or from s3://{plan.bucket}")
    finally:
        progress.close()
    manager.shutdown()
    uploads.forget(client, plan.bucket, big)
    plan.pairs = done
    _finish(plan)
    return len(plan.pairs)


def _local_failure(exc: BaseException, plan: TransferPlan) -> str:
    """Why one file failed on this machine's side (to skip it), or ``""`` (stop the copy).

    Only a local file system error on a copy of several files is skipped; a single file's
    error is the command's error, as before.
    """
    if plan.single or translate(exc) is not None or not isinstance(exc, OSError):
        return ""
    verb = "read" if plan.direction == "up" else "written"
    return f"it could not be {verb} here ({exc.strerror or exc})"


def _finish(plan: TransferPlan, *, dry_run: bool = False) -> None:
    """Raise :class:`PartialError` when some items of the plan could not be copied."""
    if not plan.refused:
        return
    count = len(plan.refused)
    what = "files" if plan.direction == "up" else "objects"
    done = "would be copied" if dry_run else "were copied"
    there = f" ({plan.skipped} more were there already)" if plan.skipped else ""
    raise PartialError(
        f"{count} {what} could not be copied (one warning each, above); "
        f"the other {len(plan.pairs)} {done}{there}",
        plan.warnings(),
        plan,
    )


def _submit(manager: Any, plan: TransferPlan, progress: _Progress, futures: list[Any]) -> None:
    """Hand every pair to the manager; an error in doing so is put where a future would be.

    A download whose folder cannot be made is skipped (it joins ``plan.refused``).
    """
    try:
        for local, key in plan.pairs:
            subscribers = [progress.subscriber()]
            if plan.direction == "up":
                future = manager.upload(local, plan.bucket, key, subscribers=subscribers)
            else:
                try:
                    Path(local).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    if plan.single:
                        raise
                    plan.refused.append((key, f"its folder cannot be made ({exc.strerror})"))
                    continue
                future = manager.download(plan.bucket, key, local, subscribers=subscribers)
            futures.append(((local, key), future))
    except Exception as exc:
        futures.append(exc)
    finally:
        progress.all_submitted = True
        progress.changed.set()


def _shutdown(manager: Any, patience: float = 1.0) -> None:
    """Cancel what is in flight, waiting at most ``patience`` seconds.

    A request to a server that stopped answering may never end by itself (the Common Runtime
    has no read timeout); the command must still end, so the wait is bounded.
    """
    closer = threading.Thread(target=manager.shutdown, kwargs={"cancel": True}, daemon=True)
    closer.start()
    closer.join(patience)


def _wait(futures: list[Any], progress: _Progress, endpoint: str) -> None:
    """Wait for every copy: woken by each one's end, else every tenth of a second.

    The wake-up at a copy's end (not a fixed tick) is what a single file's command waits for
    last; a tick alone cost each command 50 ms on average. The tick stays, so Ctrl-C is seen
    at once and a stall is noticed: the Common Runtime has no read timeout, so a server that
    stops answering would hang it. A copy whose bytes have not moved for
    :func:`clients.stall_seconds` is given up.
    """
    limit = clients.stall_seconds()

    def finished() -> bool:
        if any(isinstance(f, BaseException) for f in futures):
            return True
        # set by the submitter's last act (its ``finally``), so no wait for the thread's end
        return progress.all_submitted and all(f.done() for _, f in futures)

    while True:
        progress.changed.clear()  # before looking, so an end that comes meanwhile still wakes
        if finished():
            return
        progress.changed.wait(0.1)
        if time.monotonic() - progress.last_change > limit:
            raise EndpointError(
                f"{endpoint} stopped answering (no progress for {limit:.0f} s)",
                "check that the server is up (`s3lab doctor`), then run the same command again",
            )


def _what_was_done(plan: TransferPlan, futures: list[Any]) -> str:
    done = sum(1 for f in futures if not isinstance(f, BaseException) and _succeeded(f[1]))
    verb = "uploaded" if plan.direction == "up" else "downloaded"
    return (
        f"interrupted: {verb} {done} of {len(plan.pairs)} files; the rest were not copied "
        "(unfinished parts removed)"
    )


def _succeeded(future: Any) -> bool:
    if not future.done():
        return False
    try:
        future.result()
    except BaseException:
        return False
    return True


# --- big uploads: recorded while they run, so a later run can abort what a failed one left ---


def _big_uploads(plan: TransferPlan) -> list[str]:
    """The keys of this plan that go up in parts (a multipart upload each)."""
    if plan.direction != "up":
        return []
    return [key for local, key in plan.pairs if Path(local).stat().st_size > MULTIPART_THRESHOLD]


class _Progress:
    """A tqdm bar in bytes, fed by s3transfer's progress callbacks from many threads."""

    def __init__(self, total: int, what: str, quiet: bool) -> None:
        from tqdm import tqdm

        # disable=None: tqdm turns itself off when stderr is not a terminal (logs, notebooks).
        self.bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=what,
            disable=True if quiet else None,
            file=sys.stderr,
            leave=False,
        )
        self.lock = threading.Lock()
        self.last_change = time.monotonic()
        self.changed = threading.Event()  # set when a copy ends, or when all are submitted
        self.all_submitted = False

    def subscriber(self) -> Any:
        from s3transfer.subscribers import BaseSubscriber

        progress = self

        class Subscriber(BaseSubscriber):
            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                with progress.lock:
                    progress.bar.update(bytes_transferred)
                    progress.last_change = time.monotonic()

            def on_done(self, future: Any, **kwargs: Any) -> None:
                progress.changed.set()

        return Subscriber()

    def close(self) -> None:
        self.bar.close()


def _failed(exc: Exception, doing: str) -> NoReturn:
    """Raise the error for a failed copy: AWS's with its fix, or the local file system's."""
    if translate(exc, doing) is None and isinstance(exc, OSError):
        local = S3LabError(
            f"{doing}: {exc}",
            "check the local path (it must exist, be writable and have space), then run the "
            "same command again: it resumes",
        )
        raise local from exc
    reraise(exc, doing)  # an unknown error is raised as it is, never its own cause
