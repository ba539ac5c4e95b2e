"""scripts/tasks.py, the tasks after tasks.sh's set-up: what runs, in which order, what fails.

The commands are recorded instead of run (the real ones are the whole suite, the book): these
tests check the orchestration that used to be bash, such as the test task's side session.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import ROOT


@pytest.fixture
def tasks() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "scripts" / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


class Recorder:
    """Stands in for ``run`` and for the side session's ``Popen``: records, answers a status."""

    def __init__(self, statuses: dict[str, int] | None = None, side: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.statuses = statuses or {}
        self.side = side

    def run(self, argv: list[Any], env: dict[str, str] | None = None, **_: object) -> int:
        self.calls.append([str(part) for part in argv])
        line = " ".join(self.calls[-1])
        return next((code for word, code in self.statuses.items() if word in line), 0)

    def popen(self, argv: list[Any], *, stdout: io.TextIOBase, **_: object) -> Any:
        self.calls.append([str(part) for part in argv])
        stdout.write("side says hello\n")
        side = self.side

        class Side:
            def wait(self) -> int:
                return side

        return Side()


def _test_task(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, recorder: Recorder, *args: str
) -> int:
    monkeypatch.setattr(tasks, "run", recorder.run)
    monkeypatch.setattr(tasks.subprocess, "Popen", recorder.popen)
    return int(tasks.main(["test", *args]))


def test_the_whole_suite_runs_beside_the_side_session_and_machine_wide_last(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    assert _test_task(tasks, monkeypatch, recorder) == 0
    side, suite, machine = recorder.calls
    assert side[1:] == [str(ROOT / "scripts" / "tasks.py"), "side"]
    assert suite[1:4] == ["-m", "pytest", "-n"] and 1 <= int(suite[4]) <= 4
    assert suite[5:] == [
        "--dist", "loadfile", "--no-loadscope-reorder",
        "--durations", "20", "--durations-min", "10",  # where the minutes go, in CI's log
        "-m", "not machine_wide",
    ]  # fmt: skip
    assert machine[1:] == ["-m", "pytest", "-q", "-m", "machine_wide"]
    shown = capsys.readouterr()
    assert "side says hello" in shown.out
    assert "tests: all passed" in shown.err


@pytest.mark.parametrize(
    ("statuses", "side", "expected"),
    [({"not machine_wide": 2}, 0, 2), ({}, 1, 1), ({"-q -m machine_wide": 3}, 0, 3)],
)
def test_any_failure_fails_the_test_task(
    tasks: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    statuses: dict[str, int],
    side: int,
    expected: int,
) -> None:
    recorder = Recorder(statuses, side)
    assert _test_task(tasks, monkeypatch, recorder) == expected
    assert len(recorder.calls) == 3  # the machine-wide tests run even after a failure
    assert "tests: FAILED, see above" in capsys.readouterr().err


def test_a_selection_runs_alone(tasks: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    assert _test_task(tasks, monkeypatch, recorder, "tests/unit", "-x") == 0
    assert recorder.calls == [[sys.executable, "-m", "pytest", "tests/unit", "-x"]]


def test_the_book_starts_sandboxes_only_when_a_notebook_must_run(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3LAB_HOME", str(tmp_path))  # the task sets its own: restored after
    for cached, sandboxes in ((0, False), (3, True)):
        recorder = Recorder({"book_cache.py": cached})
        monkeypatch.setattr(tasks, "run", recorder.run)
        assert tasks.main(["book"]) == 0
        build = recorder.calls[-1]
        assert (build[:3] == ["s3lab", "sandbox", "run"]) is sandboxes
        assert build[-6:] == ["jupyter-book", "build", "--all", "-W", "--keep-going", "."]


def test_the_book_executes_side_by_side_first_and_then_needs_no_sandbox(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3LAB_HOME", str(tmp_path))
    answers = iter([3, 0])  # missing from the cache; then book_execute.py has put them there
    recorder = Recorder()
    plain = recorder.run

    def run(argv: list[Any], env: dict[str, str] | None = None, **_: object) -> int:
        status = plain(argv, env)
        return next(answers) if "book_cache.py" in " ".join(map(str, argv)) else status

    monkeypatch.setattr(tasks, "run", run)
    assert tasks.main(["book"]) == 0
    ran = [" ".join(call) for call in recorder.calls]
    assert [line.rsplit("/", 1)[-1] for line in ran[:3]] == [
        "book_cache.py",
        "book_execute.py",
        "book_cache.py",
    ]
    assert recorder.calls[-1][:2] == ["jupyter-book", "build"]  # no sandbox: nothing to execute


def test_an_unknown_task_is_one_line(tasks: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert tasks.main(["nope"]) == 1
    assert capsys.readouterr().err == "error: no task 'nope' -- fix: bash tasks.sh help\n"
