"""What the tests share: the project's root, the ``s3lab`` command run as a person would, the
one-line-error check, the skip that fails under CI, and the reliability counters.

Test modules import these (``from tests.support import cli``); the fixtures and hooks that use
them are in :mod:`tests.support.plugin`, which the root ``conftest.py`` registers.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real ``s3lab`` command in a child process, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "s3lab.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=180,
        **kwargs,  # type: ignore[arg-type]
    )


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``s3lab ARGS`` in this process through ``cli.main(argv)``: what a person sees, fast.

    Returns the same shape as :func:`run_cli`. An exception that escapes ``main`` is what a
    person would see as a traceback: it is put on stderr with exit code 1, as Python would.
    Keep :func:`run_cli` for the few end-to-end checks of the real command.
    """
    from s3lab import cli as s3lab_cli

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = s3lab_cli.main(list(args))
            except SystemExit as exc:  # --help and argparse's own exits
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["s3lab", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """A failure a person caused: exit code not 0, one line on stderr with a fix, no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], result.stderr  # progress may precede it
    assert " -- fix: " in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def unavailable(reason: str, what: str) -> NoReturn:
    """Skip with ``reason`` printed; under CI, where set-up installs everything, fail instead.

    ``what`` names the tests that then must run ("the FUSE tests").
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run {what}")
    pytest.skip(reason)


# --- reliability counts (tests/integration/reliability), summed by the plugin -------------

#: Filled by the battery and fault tests: cases tried, faults survived, objects lost, open
#: multipart uploads left behind. Printed as one line at the end of the session.
RELIABILITY = {"cases": 0, "faults": 0, "lost": 0, "open_uploads": 0}
#: The same counts per sandbox backend ("socket": the silent server of the hang test, which is
#: neither): the summary says how many ran on each, so a backend left out shows.
RELIABILITY_BY: dict[str, dict[str, int]] = {
    name: {"cases": 0, "faults": 0} for name in ("moto", "server", "socket")
}
