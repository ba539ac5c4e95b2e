"""Exercises that check themselves: a registry of the book's exercises, each with its check.

Every chapter ends with an exercise (a sphinx-exercise block, label ``<id>-exercise``). The
learner does it in a bucket named ``s3lab.unique_name("<id>")`` and then asks
``s3lab.check("<id>")`` (or ``s3lab check <id>``) what is still wrong. A check only looks: it
finds the exercise's buckets by name, inspects each, and reports the best one, so a learner who
tried twice is judged on the better try. A class's learner ``ada`` makes ``ada-<id>-...``
buckets; ``check(id, learner="ada")`` looks at those (``s3lab classroom check`` asks for every
learner).

An exercise about local state (a profile in ``~/.aws/config``) is marked ``local``: its check
reads this machine's files, so a classroom cannot check it centrally.

Adding an exercise: a function ``(client, bucket) -> Finding`` (or ``() -> Finding`` when local)
decorated with :func:`exercise`. The notebook then holds the exercise text, the worked solution
as code cells between ``{solution-start}`` and ``{solution-end}``, a cell calling
``s3lab.check("<id>")`` and a clean-up cell; tests/test_exercises.py runs those very cells.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from s3lab import backends
from s3lab.buckets import names
from s3lab.errors import UsageError


@dataclass(frozen=True)
class Finding:
    """What one check saw: done or not, what is still wrong, and how far along (to rank tries)."""

    done: bool
    message: str
    score: int = 0


@dataclass(frozen=True)
class Exercise:
    """One exercise of the book."""

    id: str
    chapter: str  # the notebook's name without .ipynb, e.g. "10_first_bucket"
    goal: str  # one line: what the learner makes
    inspect: Callable[..., Finding]  # (client, bucket) -> Finding, or () -> Finding when local
    local: bool = False  # checks this machine's files: not checkable by a classroom


#: Every exercise, by id (the sphinx-exercise label without ``-exercise``), in book order.
EXERCISES: dict[str, Exercise] = {}


def exercise(
    id_: str, chapter: str, goal: str, *, local: bool = False
) -> Callable[[Callable[..., Finding]], Callable[..., Finding]]:
    """Register the decorated function as the check of exercise ``id_``."""

    def register(inspect: Callable[..., Finding]) -> Callable[..., Finding]:
        if id_ in EXERCISES:
            raise ValueError(f"exercise {id_!r} is registered twice")
        EXERCISES[id_] = Exercise(id_, chapter, goal, inspect, local)
        return inspect

    return register


@dataclass(frozen=True)
class CheckResult:
    """The answer to "is my exercise done?": a notebook shows it as one line."""

    exercise: str
    learner: str | None
    done: bool
    message: str

    def line(self) -> str:
        """``[learner: ]exercise: done -- message`` (or ``not yet``)."""
        who = f"{self.learner}: " if self.learner else ""
        return f"{who}{self.exercise}: {'done' if self.done else 'not yet'} -- {self.message}"

    def __str__(self) -> str:
        return self.line()

    def __repr__(self) -> str:
        return self.line()

    def __bool__(self) -> bool:
        return self.done


def find(exercise_id: str) -> Exercise:
    """The registered exercise, or a one-line error that lists the known ids."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise UsageError(
            f"unknown exercise {exercise_id!r}",
            f"use one of: {', '.join(EXERCISES)} (`s3lab check --list` says what each is)",
        ) from None


def bucket_prefix(exercise_id: str, learner: str | None = None) -> str:
    """How the exercise's buckets start: ``<learner>-<id>``, cleaned as unique_name cleans it.

    Without a learner: what ``unique_name("<id>")`` starts with here, so a class learner's
    own prefix (which unique_name adds) counts.
    """
    if learner:
        return names.clean_prefix(f"{learner}-{exercise_id}")
    return names.unique_name(exercise_id).rsplit("-", 2)[0]  # without -<yyyymmdd>-<random>


def exercise_buckets(client: Any, exercise_id: str, learner: str | None = None) -> list[str]:
    """The buckets made for this exercise (and learner), newest name last.

    A learner names them ``unique_name("<id>")``; the book's own solutions name them
    ``unique_name(f"{bucket_prefix}-<id>")``, so that a run's clean-up (which removes what
    starts with the run's prefix) and the book's IAM policy (``s3lab-*`` buckets) cover them.
    Both end ``<id>-<yyyymmdd>-<6 characters>``: exercise ``mount`` does not see the buckets of
    exercise ``mount-semantics``. A class learner's start with ``<learner>-``, and only the
    check for that learner sees them.
    """
    from s3lab import buckets

    start = re.escape(names.clean_prefix(learner)) + "-" if learner else ""
    ending = re.escape(names.clean_prefix(exercise_id))
    book = "(?:s3lab-[a-z0-9-]*-)?"  # a bucket_prefix: the book's start with s3lab
    shape = re.compile(rf"{start}{book}{ending}-\d{{8}}-[a-z0-9]{{6}}")
    return sorted(b["name"] for b in buckets.list_buckets(client) if shape.fullmatch(b["name"]))


def check(exercise: str, *, client: Any = None, learner: str | None = None) -> CheckResult:
    """Check exercise ``exercise`` on the current backend (or ``client``'s) and say what is left.

    ``learner`` looks at that class learner's buckets (``<learner>-<id>-...``). With several
    buckets, the best try counts: a done one, else the one furthest along.
    """
    found = find(exercise)
    learner = learner if learner is not None else backends.learner()  # a class's learner profile
    if found.local:
        finding = found.inspect()
    else:
        client = client if client is not None else backends.resolve().client("s3")
        tries = exercise_buckets(client, exercise, learner)
        if not tries:
            finding = Finding(
                False,
                f"no bucket named {bucket_prefix(exercise, learner)}-YYYYMMDD-XXXXXX yet: "
                f'make it with s3lab.unique_name("{exercise}")',
            )
        else:
            findings = [found.inspect(client, bucket) for bucket in tries]
            finding = max(reversed(findings), key=lambda f: (f.done, f.score))
    return CheckResult(exercise, learner, finding.done, finding.message)


def listing(client: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    """Key -> size of every object under ``prefix``."""
    from s3lab import buckets

    return {item.key: item.size for item in buckets.iter_objects(client, bucket, prefix)}


def count_files(have: int, want: int, where: str, missing: list[str] | None = None) -> Finding:
    """``bucket found, 1 of 2 files under data/[, missing: b.txt]``, done when all are there."""
    text = f"bucket found, {min(have, want)} of {want} files {where}"
    if missing:
        text += f", missing: {', '.join(missing)}"
    return Finding(have >= want and not missing, text, score=1 + min(have, want))


def read_text(client: Any, bucket: str, key: str) -> str | None:
    """An object's text, or None when there is no such object."""
    from s3lab.errors import code_of, reraise

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if code_of(exc) in ("NoSuchKey", "404"):
            return None
        reraise(exc, f"reading s3://{bucket}/{key}")
    return bytes(body).decode("utf-8", errors="replace")


def says(client: Any, bucket: str, key: str, needles: dict[str, str]) -> list[tuple[bool, str]]:
    """For :func:`requirements`: is each needle in object ``key``? (needle -> what it is)."""
    text = read_text(client, bucket, key)
    if text is None:
        return [(False, key)]
    return [(needle in text, f"{what} in {key}") for needle, what in needles.items()]


def requirements(found: str, wanted: list[tuple[bool, str]], done: str) -> Finding:
    """``<found>, still missing: a; b`` for each wanted item not met, or ``<found>, <done>``."""
    missing = [what for ok, what in wanted if not ok]
    message = f"{found}, {done}" if not missing else f"{found}, still missing: {'; '.join(missing)}"
    return Finding(not missing, message, score=1 + len(wanted) - len(missing))


# --- the exercises, in book order ----------------------------------------------------------------


@exercise(
    "first-bucket",
    "10_first_bucket",
    "a bucket with two files under the prefix data/, made with the aws command",
)
def _first_bucket(client: Any, bucket: str) -> Finding:
    return count_files(len(listing(client, bucket, "data/")), 2, "under data/")


@exercise(
    "install-awscli",
    "20_install_awscli",
    "plan.txt: the install plan for an ARM machine; answer.txt: where aws ends up without sudo",
)
def _install_awscli(client: Any, bucket: str) -> Finding:
    from s3lab.install.download import pretty_fingerprint
    from s3lab.install.plans import AWSCLI_FINGERPRINT

    fingerprint = pretty_fingerprint(AWSCLI_FINGERPRINT)
    wanted = says(
        client,
        bucket,
        "plan.txt",
        {"awscli-exe-linux-aarch64.zip": "a URL ending in -aarch64.zip", fingerprint: fingerprint},
    )
    wanted += says(client, bucket, "answer.txt", {".local/bin": "the folder of aws"})
    return requirements("bucket found", wanted, "plan.txt for aarch64, answer.txt: ~/.local/bin")


@exercise(
    "configure",
    "30_configure",
    "a profile `class` for the sandbox, its region broken and fixed again",
    local=True,
)
def _configure() -> Finding:
    from s3lab.configure import awsfiles, regions
    from s3lab.install import machine

    where = machine.show_path(awsfiles.config_path())
    profile = awsfiles.read_profiles(awsfiles.config_path(), config=True).get("class")
    if profile is None:
        return Finding(
            False,
            f"no profile class in {where}: write it with s3lab configure --sandbox --profile class",
        )
    keys = awsfiles.read_profiles(awsfiles.credentials_path(), config=False).get("class", {})
    region = str(profile.get("region", ""))
    verdict = regions.check_region(region) if region else None
    hint = f" (did you mean {verdict.suggestions[0]}?)" if verdict and verdict.suggestions else ""
    return requirements(
        "profile class found",
        [
            (bool(region), "a region"),
            (not region or bool(verdict and verdict.ok), f"a real region: {region!r}{hint}"),
            (bool(keys.get("aws_access_key_id") or profile.get("aws_access_key_id")), "keys"),
        ],
        f"region {region}, keys found",
    )


def holds(client: Any, bucket: str, key: str, want: str, hint: str = "") -> Finding:
    """Done when ``key`` holds the text ``want``; else whether it is missing or what it holds.

    ``hint`` replaces "not '<want>'" where saying the wanted text would give the answer away.
    """
    text = read_text(client, bucket, key)
    if text is None:
        return Finding(False, f"missing: {key}", 0)
    text = text.strip()
    if text != want:
        return Finding(False, f"{key} holds {text[:40]!r}, {hint or f'not {want!r}'}", 1)
    return Finding(True, f"{key} holds {want!r}", 2)


@exercise(
    "boto3",
    "50_boto3",
    "250 files under many/ and answer.txt holding the bytes under many/part-1, summed with boto3",
)
def _boto3(client: Any, bucket: str) -> Finding:
    many = listing(client, bucket, "many/")
    if len(many) < 250:
        return count_files(len(many), 250, "under many/")
    want = sum(size for key, size in many.items() if key.startswith("many/part-1"))
    hint = "not the sum of the sizes under many/part-1"
    found = holds(client, bucket, "answer.txt", str(want), hint)
    return Finding(
        found.done, f"bucket found, 250 files under many/, {found.message}", 260 + found.score
    )


@exercise(
    "cloud-vm",
    "35_cloud_vm",
    "with the instance role's keys: keys.txt (where they came from) and doctor.txt",
)
def _cloud_vm(client: Any, bucket: str) -> Finding:
    wanted = says(client, bucket, "keys.txt", {"iam-role": "iam-role (keys_from())"})
    wanted += says(client, bucket, "doctor.txt", {"from iam-role": "the row 'from iam-role'"})
    return requirements(
        "bucket found",
        wanted,
        "keys.txt and doctor.txt both say iam-role",
    )


#: The files of chapter 40's exercise folder.
MINE = ("a.csv", "b.csv", "notes.txt")


@exercise(
    "buckets-cli",
    "40_buckets_cli",
    "a bucket named by `s3lab bucket name`, the folder mine/ synced into mine/",
)
def _buckets_cli(client: Any, bucket: str) -> Finding:
    have = listing(client, bucket, "mine/")
    missing = [name for name in MINE if f"mine/{name}" not in have]
    return count_files(len(MINE) - len(missing), len(MINE), "under mine/", missing)


@exercise(
    "mount",
    "60_mount",
    "notes/hello.txt written through a mount, holding 'Hello from a mounted folder'",
)
def _mount(client: Any, bucket: str) -> Finding:
    found = holds(client, bucket, "notes/hello.txt", "Hello from a mounted folder")
    return Finding(found.done, f"bucket found, {found.message}", found.score)


@exercise(
    "mount-semantics",
    "70_mount_semantics",
    "tfile.txt renamed to notes.txt through a mount by copy and delete, its text kept",
)
def _mount_semantics(client: Any, bucket: str) -> Finding:
    found = holds(client, bucket, "notes.txt", "draft")
    if not found.done:
        return Finding(False, f"bucket found, {found.message}", found.score)
    if "tfile.txt" in listing(client, bucket, "tfile.txt"):
        return Finding(False, "notes.txt holds 'draft', but tfile.txt is still there", 3)
    return Finding(True, "notes.txt holds 'draft', tfile.txt is gone", 4)


@exercise(
    "kopah",
    "85_kopah",
    "a.csv, b.csv (aws --profile kopah) and c.csv (s3cmd) under project/",
)
def _kopah(client: Any, bucket: str) -> Finding:
    want = ["a.csv", "b.csv", "c.csv"]
    have = {key.removeprefix("project/") for key in listing(client, bucket, "project/")}
    missing = [name for name in want if name not in have]
    return count_files(len(want) - len(missing), len(want), "under project/", missing)


# In the book's order (the chapters' numbers), whatever order the checks above are written in:
# `s3lab check --list` and the classroom's console list them so.
EXERCISES = dict(sorted(EXERCISES.items(), key=lambda item: item[1].chapter))
