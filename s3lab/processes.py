"""Start child processes, remember what identifies them, and signal only those.

A pid alone is not an identity: after a reboot (or simply after a long time) the pid in a state
file can belong to an unrelated process, which a careless ``kill`` would then stop. So s3lab
records three things about each child it starts (a sandbox server, a mount program), all read
with psutil:

- the pid,
- when it started, in seconds after boot: ``Process.create_time()`` less ``boot_time()``. That
  is the kernel's start time of the process, which changes whenever the pid is reused, and,
  unlike the wall-clock ``create_time()`` alone, it does not move when the clock is set (psutil
  identifies its own ``Process`` objects by the same clock, for the same reason), and
- its command line (``Process.cmdline()``).

:func:`stop` signals a process only when all three still match. A record that no longer matches
is stale: it is discarded, with a note in the log (``logging``) and in the returned result, and
nothing is signalled. Records written before psutil did this (``start_ticks``, the clock ticks
after boot from ``/proc/PID/stat``) are read as the same start time (:func:`upgraded`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import psutil

logger = logging.getLogger(__name__)

#: psutil reads start times in clock ticks (1/100 s on Linux): two readings of one process's
#: start agree to within float rounding, far less than half a tick.
_SAME_START = 0.5 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Identity:
    """What identifies one process: its pid, when it started and its command line."""

    pid: int
    since_boot: float = 0.0  # seconds after boot when it started (0: not recorded)
    cmdline: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        """The fields to store in a JSON state file."""
        return {"pid": self.pid, "since_boot": self.since_boot, "cmdline": list(self.cmdline)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Identity:
        """Read :meth:`as_record`'s fields back (or an older record's); without them: no match."""
        record = upgraded(record)
        return cls(
            int(record.get("pid") or 0),
            float(record.get("since_boot") or 0.0),
            tuple(str(part) for part in record.get("cmdline") or ()),
        )

    def started_as(self, other: Identity) -> bool:
        """True when both name the same pid started at the same moment (a start was recorded)."""
        return (
            self.pid == other.pid
            and bool(self.since_boot and other.since_boot)
            and abs(self.since_boot - other.since_boot) < _SAME_START
        )


def upgraded(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with an older s3lab's ``start_ticks`` turned into ``since_boot``.

    Older state files (a sandbox's, a mount's) stored the start as clock ticks after boot, the
    number psutil itself divides by the tick rate: the same process reads the same start.
    """
    fields = dict(record)
    ticks = fields.pop("start_ticks", None)
    if ticks and not fields.get("since_boot"):
        fields["since_boot"] = int(ticks) / os.sysconf("SC_CLK_TCK")
    return fields


def identify(pid: int) -> Identity | None:
    """The identity of the live process ``pid``, or None when it is gone or a zombie."""
    if pid <= 0:
        return None
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return None
            since_boot = process.create_time() - psutil.boot_time()
            cmdline = tuple(process.cmdline())
    except psutil.Error:  # gone, a zombie, or not ours to read: nothing to identify
        return None
    return Identity(pid, since_boot, cmdline)


def mismatch(recorded: Identity | None) -> str:
    """Empty when ``recorded`` is still the same live process, else why it is not (a note)."""
    if recorded is None or recorded.pid <= 0:
        return "no process was recorded"
    now = identify(recorded.pid)
    if now is None:
        return f"process {recorded.pid} is gone"
    if not recorded.since_boot or not recorded.cmdline:
        return f"the record of process {recorded.pid} does not say when it started or what it ran"
    same_start = now.started_as(recorded)
    if same_start and not now.cmdline:
        # An exiting process already reads an empty command line: it is the same one, leaving.
        return f"process {recorded.pid} is gone (exiting)"
    if not same_start or now.cmdline != recorded.cmdline:
        what = " ".join(now.cmdline)[:80] or "?"
        return f"pid {recorded.pid} now belongs to another process ({what})"
    return ""


def is_running(recorded: Identity | None) -> bool:
    """True when ``recorded`` is alive and still the process that was recorded."""
    return not mismatch(recorded)


def spawn(
    argv: Sequence[str],
    *,
    output: IO[bytes],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached in its own session (it outlives the caller), output to ``output``.

    Take its identity with :func:`settled` once it answers.
    """
    return subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        start_new_session=True,
    )


def settled(proc: subprocess.Popen[bytes]) -> Identity:
    """The identity of a child started by :func:`spawn`, once it has settled.

    Right after the start, its command line may still be empty (or a wrapper's, before it
    ``exec``s the real program): call this once the program answers, not before.
    """
    return identify(proc.pid) or Identity(proc.pid)


def stop_child(proc: subprocess.Popen[bytes], *, grace: float = 3.0, group: bool = False) -> None:
    """Stop a child this process started and has not reaped: its pid cannot be anyone else's."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace if sig == signal.SIGTERM else 5.0)


@dataclass
class Stopped:
    """What :func:`stop` did: whether it signalled, whether the process is gone, and notes."""

    signalled: bool = False
    gone: bool = True
    notes: list[str] = field(default_factory=list)


def _send(recorded: Identity, sig: int, group: bool) -> bool:
    """Send ``sig`` if the process still matches its record; True if it was sent.

    The psutil ``Process`` is taken before the record is compared, and psutil checks again
    that its pid was not reused before it signals: nothing slips in between.
    """
    try:
        process = psutil.Process(recorded.pid)
    except psutil.Error:
        return False
    if mismatch(recorded):
        return False
    try:
        if not group:
            process.send_signal(sig)
        elif process.is_running():  # psutil's own check that the pid was not reused
            os.killpg(recorded.pid, sig)
        else:
            return False
    except (psutil.Error, ProcessLookupError, PermissionError):
        return False
    return True


def send(recorded: Identity, sig: int) -> bool:
    """Send ``sig`` (SIGHUP: reload) to the process only while it matches its record."""
    return _send(recorded, sig, group=False)


def wait_gone(recorded: Identity, timeout: float, reap: Callable[[], object] | None = None) -> bool:
    """Wait up to ``timeout`` seconds for the process to end; True when it has.

    Ended means no live process with that pid and start time (a zombie has ended). The command
    line is not asked: a process that is exiting already reads an empty one while it still runs.
    Another's process: psutil's ``wait`` returns as soon as it exits. A child of this process
    is left for its ``Popen`` (or ``reap``) to collect, with its exit code: psutil would reap it
    itself.
    """
    try:
        process = psutil.Process(recorded.pid)
        ours = process.ppid() == os.getpid()
    except psutil.Error:
        return True
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        now = identify(recorded.pid)
        if now is None or not now.started_as(recorded):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if reap is not None or ours:
            time.sleep(min(left, 0.05))
            continue
        # A short wait at a time: a zombie never "exits" for psutil, but identify() sees it.
        with contextlib.suppress(psutil.TimeoutExpired):
            process.wait(min(left, 0.2))


def stop(
    recorded: Identity | None,
    *,
    grace: float = 3.0,
    group: bool = False,
    first_wait: float = 0.0,
    reap: Callable[[], object] | None = None,
) -> Stopped:
    """Stop the recorded process: SIGTERM, ``grace`` seconds, then SIGKILL, only if it matches.

    ``group`` signals its whole process group (it leads one when started by :func:`spawn`).
    ``first_wait`` gives it time to exit by itself first (a mount program does, once unmounted).
    ``reap`` is called while waiting, so a child of this process does not linger as a zombie.
    A record that does not match is stale: nothing is signalled and the reason is in ``notes``.
    """
    result = Stopped()
    why = mismatch(recorded)
    if why or recorded is None:
        if recorded is not None and recorded.pid and "is gone" not in why:
            note = f"stale record discarded, nothing signalled: {why}"
            logger.warning(note)
            result.notes.append(note)
        return result
    if first_wait and wait_gone(recorded, first_wait, reap):
        return result
    result.signalled = _send(recorded, signal.SIGTERM, group)
    if wait_gone(recorded, grace, reap):
        return result
    _send(recorded, signal.SIGKILL, group)
    result.gone = wait_gone(recorded, 5.0, reap)
    return result
