"""Every exercise checks itself: its check fails on an untouched state, and passes after the
notebook's own worked solution, on both sandboxes; the notebook's clean-up leaves nothing.

The solution is not copied here: the code cells between the exercise's ``{solution-start}`` and
``{solution-end}`` are taken from the notebook and run in a fresh IPython shell (so ``!aws``
lines run as in JupyterLab) after the chapter's parameters cell and its first set-up cell.
Then the notebook's clean-up cell (the code cell after the check cell) runs too.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from s3lab import backends, checks
from s3lab.errors import UsageError
from tests.integration.mount.test_containers import PODMAN_RUN, image  # noqa: F401 (a fixture)
from tests.support import ROOT, assert_one_line_error, cli

NOTEBOOKS = ROOT / "notebooks"
#: Exercises on prose pages (book/<chapter>.md): their steps are shell lines for the reader's own
#: machine, so a test below runs them, not nbval.
ON_PAGES = [
    e.id for e in checks.EXERCISES.values() if not (NOTEBOOKS / f"{e.chapter}.ipynb").exists()
]
IN_NOTEBOOKS = [e for e in checks.EXERCISES if e not in ON_PAGES]


@dataclass
class Cells:
    """The cells of one exercise in its notebook, after its worked solution."""

    check: nbformat.NotebookNode  # the cell that calls s3lab.check("<id>")
    cleanup: nbformat.NotebookNode  # the code cell after it


def exercise_cells(exercise_id: str) -> Cells:
    """Find the exercise's cells in its chapter's notebook (and fail if the shape is wrong)."""
    path = NOTEBOOKS / f"{checks.EXERCISES[exercise_id].chapter}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    label = f"{exercise_id}-exercise"
    params = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert params, f"{path.name}: no parameters cell"
    starts = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "markdown" and re.search(rf"\{{solution-start\}}\s+{label}\b", c.source)
    ]
    assert len(starts) == 1, f"{path.name}: want one {{solution-start}} {label} cell"
    assert f":label: {label}" in "".join(c.source for c in cells), f"{path.name}: no {label}"
    assert f's3lab.check("{exercise_id}")' in "".join(c.source for c in cells[: starts[0]])
    end = next(i for i in range(starts[0], len(cells)) if "{solution-end}" in cells[i].source)
    solution = [c.source for c in cells[starts[0] : end] if c.cell_type == "code"]
    assert solution, f"{path.name}: no code cells in {label}'s solution"
    after = [c for c in cells[end:] if c.cell_type == "code"]
    assert len(after) >= 2 and f's3lab.check("{exercise_id}")' in after[0].source, (
        f"{path.name}: after {{solution-end}} a check cell, then a clean-up cell"
    )
    return Cells(after[0], after[1])


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An untouched state for local exercises: empty AWS files, a scratch folder as cwd."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("exercise_id", list(checks.EXERCISES))
def test_each_check_fails_on_an_untouched_state(
    exercise_id: str, lab: backends.Backend, fresh: Path
) -> None:
    """On an untouched state the check says not yet, and what is missing."""
    if exercise_id in ON_PAGES:
        page = (ROOT / "book" / f"{checks.EXERCISES[exercise_id].chapter}.md").read_text()
        assert f":label: {exercise_id}-exercise" in page and f"s3lab check {exercise_id}" in page
    else:
        exercise_cells(exercise_id)  # and the chapter has the exercise's shape
    before = checks.check(exercise_id, client=lab.client("s3"))
    assert not before.done and before.message, before


def stored_text(cell: nbformat.NotebookNode) -> str:
    """What a code cell printed or returned, as stored in the notebook."""
    return "".join(
        out.get("text", "") or out.get("data", {}).get("text/plain", "") for out in cell.outputs
    )


@pytest.mark.parametrize("exercise_id", IN_NOTEBOOKS)
def test_nbval_runs_each_solution_then_its_check_which_says_done(exercise_id: str) -> None:
    """nbval runs every chapter on both sandboxes and compares each cell's output with the one
    stored, so it runs each worked solution, then its check, there. The stored check must say
    done, and the clean-up's check not yet: a solution that stops working fails nbval."""
    cells = exercise_cells(exercise_id)
    assert f"{exercise_id}: done" in stored_text(cells.check)
    assert f"{exercise_id}: not yet" in stored_text(cells.cleanup)


def test_best_try_counts_and_learners_are_apart(lab: backends.Backend) -> None:
    """Two tries: the better one counts; a learner's check does not see another's buckets."""
    from s3lab import buckets
    from s3lab.buckets import names

    client = lab.client("s3")
    weak = buckets.make_bucket(client, names.unique_name("first-bucket"))
    strong = buckets.make_bucket(client, names.unique_name("first-bucket", learner="ada"))
    try:
        client.put_object(Bucket=weak, Key="data/a.txt", Body=b"a")
        listing = b"2026-12-03 08:00:00          1 a.txt\n2026-12-03 08:00:00          1 b.txt\n"
        for key in ("data/a.txt", "data/b.txt"):
            client.put_object(Bucket=strong, Key=key, Body=b"x")
        client.put_object(Bucket=strong, Key="listing.txt", Body=listing)  # `aws s3 ls` saved
        mine = checks.check("first-bucket", client=client)
        assert not mine.done and "1 of 2 files" in mine.message, mine
        ada = checks.check("first-bucket", client=client, learner="Ada")
        assert (
            ada.done and ada.learner == "Ada" and ada.line().startswith("Ada: first-bucket: done")
        )
        other = checks.check("first-bucket", client=client, learner="bob")
        assert not other.done and "bob-first-bucket-" in other.message, other
        second = buckets.make_bucket(client, names.unique_name("first-bucket"))
        for key in ("data/a.txt", "data/b.txt"):
            client.put_object(Bucket=second, Key=key, Body=b"x")
        result = checks.check("first-bucket", client=client)
        assert not result.done and "missing: listing.txt" in result.message, result
        client.put_object(Bucket=second, Key="listing.txt", Body=listing)
        assert checks.check("first-bucket", client=client).done
        buckets.remove_bucket(client, second, force=True)
    finally:
        for name in (weak, strong):
            buckets.remove_bucket(client, name, force=True)


def test_messages_say_what_is_still_missing(server: backends.Backend) -> None:
    """Half done: the message names what is there and what is missing."""
    from s3lab import buckets
    from s3lab.buckets import names

    client = server.client("s3")
    made = []
    try:
        made.append(buckets.make_bucket(client, names.unique_name("buckets-cli")))
        for key in ("mine/a.csv", "mine/b.csv"):
            client.put_object(Bucket=made[-1], Key=key, Body=b"1")
        result = checks.check("buckets-cli", client=client)
        assert result.message == "bucket found, 2 of 3 files under mine/, missing: notes.txt"
        made.append(buckets.make_bucket(client, names.unique_name("install-awscli")))
        client.put_object(Bucket=made[-1], Key="plan.txt", Body=b"awscli-exe-linux-x86_64.zip")
        result = checks.check("install-awscli", client=client)
        assert not result.done and "-aarch64.zip in plan.txt" in result.message, result
        assert "answer.txt" in result.message, result
    finally:
        for name in made:
            buckets.remove_bucket(client, name, force=True)


def test_check_command(lab: backends.Backend) -> None:
    """`s3lab check` prints one line and exits 1 when not done; --list names every exercise."""
    listed = cli("check", "--list")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(checks.EXERCISES)
    result = cli("check", "first-bucket", "--backend", lab.name)
    assert result.returncode == 1 and result.stdout.startswith("first-bucket: not yet -- ")
    assert len(result.stdout.splitlines()) == 1


def test_unknown_exercise_is_one_line() -> None:
    """A misspelt id: one line naming the known ids, from the library and the command alike."""
    with pytest.raises(UsageError, match="first-bucket"):
        checks.check("frist-bucket")
    assert_one_line_error(cli("check", "frist-bucket"), "unknown exercise", "first-bucket")
    assert_one_line_error(cli("check"), "which exercise")


# Exercises whose check has not landed yet (chapters 50 to 85): take each off as it does.
def test_every_exercise_in_the_book_is_registered() -> None:
    """Each chapter has an exercise; each ``{exercise}`` label has a check in its chapter."""
    labels: set[tuple[str, str]] = set()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        text = "".join(c.source for c in nbformat.read(path, as_version=4).cells)
        found = {(m, path.stem) for m in re.findall(r":label: ([\w-]+)-exercise\b", text)}
        assert found, f"{path.name}: no exercise"
        labels |= found
    for path in sorted((ROOT / "book").glob("*.md")):  # a prose page's exercise with a check
        text = path.read_text()
        for found in re.findall(r":label: ([\w-]+)-exercise\b", text):
            if f"s3lab check {found}" in text:
                labels.add((found, path.stem))
    registered = {(e.id, e.chapter) for e in checks.EXERCISES.values()}
    assert registered == labels


def test_no_chapter_s_own_buckets_look_like_an_exercise_s() -> None:
    """A chapter's ``bucket_prefix`` names its own buckets; the check must not take them for
    the learner's (``unique_name("mount")`` is ``s3lab-mount-...``: chapter 60's prefix is not
    ``s3lab-mount``)."""
    from s3lab import notebooks

    for path in notebooks.notebooks_in():
        own = f"{notebooks.parameters(path)['bucket_prefix']}-20261203-abc123"
        seen = [
            e
            for e, x in checks.EXERCISES.items()
            if not x.local and checks.bucket_shape(e).fullmatch(own)
        ]
        assert seen == [], f"{path.name}: its own buckets ({own}) look like exercise {seen}'s"
    assert checks.bucket_shape("mount").fullmatch("s3lab-mount-20261203-abc123")
    assert checks.bucket_shape("mount").fullmatch("s3lab-run-x-60-mount-20261203-abc123")
    assert not checks.bucket_shape("mount").fullmatch("s3lab-mount-semantics-20261203-abc123")


def test_the_containers_exercise_run_as_its_solution_says(
    image: str,  # noqa: F811 (the fixture imported above)
    server: backends.Backend,
    tmp_path: Path,
) -> None:
    """book/containers.md's solution, for real: a bucket mounted on the host, a container that
    writes its host name through the bind mount, then the check (not yet before, done after)."""
    from s3lab import buckets, mount
    from s3lab.buckets import names
    from tests.support.mounts import need

    need("rclone")
    client = server.client("s3")
    name = buckets.make_bucket(client, names.unique_name("containers"))
    folder = tmp_path / "ckpt"
    folder.mkdir()
    try:
        assert not checks.check("containers", client=client).done
        mount.mount(name, folder, tool="rclone", allow_other=True, lab=server)
        ran = subprocess.run(
            [
                *PODMAN_RUN,
                "-v",
                f"{folder}:/ckpt",
                image,
                "sh",
                "-c",
                "hostname > /ckpt/ckpt-1.txt",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        mount.unmount(folder)
        result = checks.check("containers", client=client)
        assert result.done and "written in container" in result.message, result
        client.put_object(Bucket=name, Key="ckpt-1.txt", Body=b"my-laptop\n")  # from the host
        assert not checks.check("containers", client=client).done
    finally:
        if str(folder) in mount.fuse_mounts():
            mount.unmount(folder)
        buckets.remove_bucket(client, name, force=True)


def test_a_step_left_out_is_named(server: backends.Backend) -> None:
    """Each step an exercise states is checked: leaving one out names it, doing it passes."""
    import json

    from s3lab import buckets
    from s3lab.buckets import names

    client = server.client("s3")
    made = []
    try:
        made.append(buckets.make_bucket(client, names.unique_name("output-formats")))
        keys = ["data/a.csv", "data/b.csv"]
        for key in keys:
            client.put_object(Bucket=made[-1], Key=key, Body=b"1")
        table = "-----\n|ListObjectsV2|\n+---+\n|  data/a.csv |\n|  data/b.csv |\n+---+\n"
        listings = {"listing.json": json.dumps(keys), "listing.txt": json.dumps(keys)}
        for key, body in {**listings, "listing.table": table}.items():
            client.put_object(Bucket=made[-1], Key=key, Body=body.encode())
        result = checks.check("output-formats", client=client)
        assert not result.done and "listing.txt: --output text" in result.message, result
        client.put_object(Bucket=made[-1], Key="listing.txt", Body=b"data/a.csv\tdata/b.csv\n")
        assert checks.check("output-formats", client=client).done

        made.append(buckets.make_bucket(client, names.unique_name("buckets-cli")))
        for name in checks.MINE:
            client.put_object(Bucket=made[-1], Key=f"mine/{name}", Body=b"1")
        result = checks.check("buckets-cli", client=client)
        assert not result.done and "second-sync.txt" in result.message, result
        copied = b"upload: mine/a.csv to s3://b/mine/a.csv\n"
        client.put_object(Bucket=made[-1], Key="second-sync.txt", Body=copied)
        result = checks.check("buckets-cli", client=client)
        assert not result.done and "the second sync copied" in result.message, result
        client.put_object(Bucket=made[-1], Key="second-sync.txt", Body=b"")
        assert checks.check("buckets-cli", client=client).done

        made.append(buckets.make_bucket(client, names.unique_name("multipart")))
        client.put_object(Bucket=made[-1], Key="big.bin", Body=b"x" * (12 * checks.MIB))
        client.put_object(Bucket=made[-1], Key="counts.csv", Body=b"n\n1\n2\n")
        client.put_object(Bucket=made[-1], Key="total.txt", Body=b"3")
        result = checks.check("multipart", client=client)
        assert not result.done and "lifecycle rule" in result.message, result
        assert "3 parts" in result.message and "total.txt" not in result.message, result
    finally:
        for name in made:
            buckets.remove_bucket(client, name, force=True)
