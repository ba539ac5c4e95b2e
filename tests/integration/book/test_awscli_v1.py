"""The book's stored outputs are v2's, and a notebook still passes with PyPI's v1 as the ``aws``.

Set-up keeps v1 where v2 cannot be had (offline, no source): the same test command must pass
there, the outputs differing only where ``tests/sanitize.cfg`` says the two CLIs differ (the
version lines, the ``aws configure list`` layout). The configure chapter shows both, so it is
the one run here, on moto, with v1 first on PATH. (The install chapter shows where ``aws`` is,
and this test's v1 is not in the environment's folder as set-up's fallback v1 would be.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3lab.install.machine import pip_version, probe_aws
from tests.support import ROOT, unavailable

pytestmark = pytest.mark.integration

NOTEBOOKS = ["notebooks/30_configure.ipynb::moto"]


def test_the_configure_chapter_passes_with_v1_as_the_aws(tmp_path: Path) -> None:
    if pip_version("awscli") is None:
        unavailable("PyPI's awscli (v1) is not in this environment", "the v1 notebook test")
    v1 = tmp_path / "bin" / "aws"
    v1.parent.mkdir()
    ran = tmp_path / "ran.txt"  # each command v1 ran: proof that the notebook used it
    v1.write_text(f'#!/bin/sh\necho "$*" >> "{ran}"\nexec "{sys.executable}" -m awscli "$@"\n')
    v1.chmod(0o755)
    found = probe_aws(v1)
    assert found is not None and found.major == 1, found
    path = os.pathsep.join([str(v1.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *NOTEBOOKS],
        cwd=ROOT,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1]
    commands = ran.read_text().splitlines()
    assert "configure list --profile s3lab-sandbox" in commands, commands
    assert "--version" in commands, commands  # doctor's check of the CLI
