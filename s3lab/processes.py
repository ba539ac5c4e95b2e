"""Start child processes, remember what identifies them, and signal only those.

A pid alone is not an identity: after a reboot (or simply after a long time) the pid in a state
file can belong to an unrelated process, which a careless ``kill`` would then stop. So s3lab
records three things about each child it starts (a sandbox server, a mount program):

- the pid,
- its start time: field 22 of ``/proc/PID/stat``, in clock ticks since boot, which changes
  whenever the pid is reused, and
- its command line, from ``/proc/PID/cmdline``.

:func:`stop` signals a process only when all three still match. A record that no longer matches
is stale: it is discarded, with a note in the log (``logging``) and in the returned result, and
nothing is signalled.
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
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """What identifies one process: its pid, its start time and its command line."""

    pid: int
    start_ticks: int = 0  # /proc/PID/stat field 22: clock ticks after boot when it started
    cmdline: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        """The fields to store in a JSON state file."""
        return {"pid": self.pid, "start_ticks": self.start_ticks, "cmdline": list(self.cmdline)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Identity:
        """Read :meth:`as_record`'s fields back; a record without them will never match."""
        return cls(
            int(record.get("pid") or 0),
            int(record.get("start_ticks") or 0),
            tuple(str(part) for part in record.get("cmdline") or ()),
        )


def identify(pid: int) -> Identity | None:
    """The identity of the live process ``pid``, or None when it is gone or a zombie."""
    if pid <= 0:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces and parentheses itself: the
    # fields after the last ")" start with field 3, the state.
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    cmdline = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return Identity(pid, int(fields[22 - 3]), cmdline)


def mismatch(recorded: Identity | None) -> str:
    """Empty when ``recorded`` is still the same live process, else why it is not (a note)."""
    if recorded is None or recorded.pid <= 0:
        return "no process was recorded"
    now = identify(recorded.pid)
    if now is None:
        return f"process {recorded.pid} is gone"
    if not recorded.start_ticks or not recorded.cmdline:
        return f"the record of process {recorded.pid} does not say when it started or what it ran"
    if now.start_ticks == recorded.start_ticks and not now.cmdline:
        # An exiting process already reads an empty command line: it is the same one, leaving.
        return f"process {recorded.pid} is gone (exiting)"
    if now.start_ticks != recorded.start_ticks or now.cmdline != recorded.cmdline:
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

    Right after the start, ``/proc/PID/cmdline`` may still be empty (or a wrapper's, before it
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
    """Send ``sig`` if the process still matches its record; True if it was sent."""
    if mismatch(recorded):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(recorded.pid, sig)
        else:
            os.kill(recorded.pid, sig)
        return True
    return False


def send(recorded: Identity, sig: int) -> bool:
    """Send ``sig`` (SIGHUP: reload) to the process only while it matches its record."""
    return _send(recorded, sig, group=False)


def wait_gone(recorded: Identity, timeout: float, reap: Callable[[], object] | None = None) -> bool:
    """Wait up to ``timeout`` seconds for the process to end; True when it has.

    Ended means no live process with that pid and start time. The command line is not asked:
    a process that is exiting already reads an empty ``/proc/PID/cmdline`` while it still runs.
    """
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        now = identify(recorded.pid)
        if now is None or now.start_ticks != recorded.start_ticks:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


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
