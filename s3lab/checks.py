"""Exercises that check themselves: a registry of the book's exercises, each with its check.

Every chapter ends with an exercise (a sphinx-exercise block, label ``<id>-exercise``). The
learner does it in a bucket named ``s3lab.unique_name("<id>")`` (``s3lab-<id>-...``) and asks
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
``s3lab.check("<id>")`` and a clean-up cell; tests/integration/book/test_exercises.py runs
those very cells.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3lab import backends
from s3lab.buckets import names
from s3lab.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
    """The registered exercise, or a one-line error that lists the known ids.

    Raises:
        UsageError: no exercise has that id.
    """
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


def exercise_buckets(client: S3Client, exercise_id: str, learner: str | None = None) -> list[str]:
    """The buckets made for this exercise (and learner), newest name last.

    A learner names them ``unique_name("<id>")`` (``s3lab-<id>-...``: the book's IAM policy
    allows ``s3lab-*`` buckets); the book's own solutions name them
    ``unique_name(f"{bucket_prefix}-<id>")``, so that a run's clean-up (which removes what
    starts with the run's prefix) covers them. Both end ``<id>-<yyyymmdd>-<6 characters>``:
    exercise ``mount`` does not see the buckets of exercise ``mount-semantics``. A class
    learner's start with ``<learner>-``, and only the check for that learner sees them.
    """
    from s3lab import buckets

    shape = bucket_shape(exercise_id, learner)
    return sorted(b["name"] for b in buckets.list_buckets(client) if shape.fullmatch(b["name"]))


def bucket_shape(exercise_id: str, learner: str | None = None) -> re.Pattern[str]:
    """What the names of the exercise's buckets look like (see :func:`exercise_buckets`)."""
    start = re.escape(names.clean_prefix(learner)) + "-" if learner else ""
    ending = re.escape(names.clean_prefix(exercise_id))
    # unique_name's s3lab- start, and a solution's bucket_prefix after it (s3lab-first-...)
    book = "(?:s3lab-(?:[a-z0-9-]+-)?)?"
    return re.compile(rf"{start}{book}{ending}-\d{{8}}-[a-z0-9]{{6}}")


def check(
    exercise: str, *, client: S3Client | None = None, learner: str | None = None
) -> CheckResult:
    """Check exercise ``exercise`` on the current backend (or ``client``'s) and say what is left.

    The current backend is the one :func:`s3lab.use` chose (:func:`s3lab.backends.current`).
    ``learner`` looks at that class learner's buckets (``<learner>-<id>-...``). With several
    buckets, the best try counts: a done one, else the one furthest along.

    Raises:
        UsageError: no exercise has that name.
        SandboxError: no client was given and the current backend's sandbox is not running.
    """
    found = find(exercise)
    learner = learner if learner is not None else backends.learner()  # a class's learner profile
    if found.local:
        finding = found.inspect()
    else:
        client = client if client is not None else backends.current().client("s3")
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


def listing(client: S3Client, bucket: str, prefix: str = "") -> dict[str, int]:
    """Key -> size of every object under ``prefix``."""
    from s3lab import buckets

    return {item.key: item.size for item in buckets.iter_objects(client, bucket, prefix)}


def count_files(have: int, want: int, where: str, missing: list[str] | None = None) -> Finding:
    """``bucket found, 1 of 2 files under data/[, missing: b.txt]``, done when all are there."""
    text = f"bucket found, {min(have, want)} of {want} files {where}"
    if missing:
        text += f", missing: {', '.join(missing)}"
    return Finding(have >= want and not missing, text, score=1 + min(have, want))


def read_text(client: S3Client, bucket: str, key: str) -> str | None:
    """An object's text, or None when there is no such object."""
    from s3lab.errors import code_of, reraise

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if code_of(exc) in ("NoSuchKey", "404"):
            return None
        reraise(exc, f"reading s3://{bucket}/{key}")
    return bytes(body).decode("utf-8", errors="replace")


def says(
    client: S3Client, bucket: str, key: str, needles: dict[str, str]
) -> list[tuple[bool, str]]:
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
    "two files under the prefix data/, and listing.txt: what `aws s3 ls` printed for data/",
)
def _first_bucket(client: S3Client, bucket: str) -> Finding:
    files = listing(client, bucket, "data/")
    found = count_files(len(files), 2, "under data/")
    if not found.done:
        return found
    # `aws s3 ls s3://BUCKET/data/` prints one line a file, ending in its name after data/
    listed = (read_text(client, bucket, "listing.txt") or "").split("\n")
    names = {line.split()[-1] for line in listed if line.split()}
    unlisted = sorted(
        key.removeprefix("data/") for key in files if key.removeprefix("data/") not in names
    )
    if unlisted or not names:
        what = f"listing.txt does not list {', '.join(unlisted)}" if names else "listing.txt"
        return Finding(False, f"{found.message}, missing: {what}", found.score + 1)
    return Finding(True, found.message, found.score + 2)


@exercise(
    "install-awscli",
    "20_install_awscli",
    "plan.txt: the install plan for an ARM machine; answer.txt: where aws ends up without sudo",
)
def _install_awscli(client: S3Client, bucket: str) -> Finding:
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
    real = bool(verdict and verdict.ok)
    return requirements(
        "profile class found",
        [
            # the exercise's steps: a scratch config, the sandbox's profile, the region fixed
            (
                bool(os.environ.get("AWS_CONFIG_FILE")),
                "a scratch config: export AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE first",
            ),
            (bool(profile.get("endpoint_url")), "the sandbox's endpoint_url (--sandbox)"),
            (bool(region), "a region"),
            (not region or real, f"a real region: {region!r}{hint}"),
            (not real or region == "us-east-1", f"the region us-east-1, not {region}"),
            (bool(keys.get("aws_access_key_id") or profile.get("aws_access_key_id")), "keys"),
        ],
        f"region {region}, keys found",
    )


def holds(client: S3Client, bucket: str, key: str, want: str, hint: str = "") -> Finding:
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
    "250 files under many/; answer.txt: the bytes under many/part-1, summed by client and resource",
)
def _boto3(client: S3Client, bucket: str) -> Finding:
    many = listing(client, bucket, "many/")
    if len(many) < 250:
        return count_files(len(many), 250, "under many/")
    want = sum(size for key, size in many.items() if key.startswith("many/part-1"))
    hint = "not the sum of the sizes under many/part-1 twice, one a line (client, resource)"
    found = holds(client, bucket, "answer.txt", f"{want}\n{want}", hint)
    return Finding(
        found.done, f"bucket found, 250 files under many/, {found.message}", 260 + found.score
    )


@exercise(
    "cloud-vm",
    "35_cloud_vm",
    "with the instance role's keys: keys.txt (where they came from) and doctor.txt",
)
def _cloud_vm(client: S3Client, bucket: str) -> Finding:
    wanted = says(client, bucket, "keys.txt", {"iam-role": "iam-role (keys_from())"})
    wanted += says(client, bucket, "doctor.txt", {"from iam-role": "the row 'from iam-role'"})
    return requirements(
        "bucket found",
        wanted,
        "keys.txt and doctor.txt both say iam-role",
    )


@exercise(
    "output-formats",
    "40_buckets_cli",
    "two files under data/ and their listing saved as listing.json, listing.txt and listing.table",
)
def _output_formats(client: S3Client, bucket: str) -> Finding:
    import json

    keys = sorted(listing(client, bucket, "data/"))
    wanted: list[tuple[bool, str]] = [
        (len(keys) >= 2, f"two files under data/ (found {len(keys)})")
    ]
    texts = {name: read_text(client, bucket, name) for name in LISTINGS}
    try:
        as_json = json.loads(texts["listing.json"] or "null")
    except ValueError:
        as_json = None
    wanted.append((as_json == keys, "listing.json: the keys under data/ as a JSON list"))
    text = texts["listing.txt"] or ""
    wanted.append(
        (bool(keys) and text.split() == keys and "[" not in text, "listing.txt: --output text")
    )
    table = texts["listing.table"] or ""
    wanted.append(
        (
            bool(keys) and table.lstrip().startswith("-") and all(k in table for k in keys),
            "listing.table: --output table",
        )
    )
    return requirements("bucket found", wanted, "the keys in JSON, text and a table")


#: The listings of the output-formats exercise, one per format.
LISTINGS = ("listing.json", "listing.txt", "listing.table")

MIB = 1024 * 1024


@exercise(
    "multipart",
    "50_boto3",
    "a rule aborting unfinished uploads after 1 day, big.bin in 3 parts, total.txt of counts.csv",
)
def _multipart(client: S3Client, bucket: str) -> Finding:
    import csv
    import io

    from s3lab.errors import code_of

    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except Exception as exc:
        if code_of(exc) not in ("NoSuchLifecycleConfiguration", "404"):
            raise
        rules = []
    aborts = [
        rule
        for rule in rules
        if rule.get("Status") == "Enabled"
        and rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
    ]
    wanted = [(bool(aborts), "a lifecycle rule aborting unfinished uploads after 1 day")]
    head: Mapping[str, Any] = {}
    try:
        head = client.head_object(Bucket=bucket, Key="big.bin")
    except Exception as exc:
        if code_of(exc) not in ("NoSuchKey", "404"):
            raise
    parts = str(head.get("ETag", "")).strip('"').rpartition("-")[2]
    wanted.append(
        (
            head.get("ContentLength") == 12 * MIB and parts == "3",
            "big.bin: 12 MiB uploaded in 3 parts of 5 MiB",
        )
    )
    table = read_text(client, bucket, "counts.csv")
    try:
        rows = list(csv.DictReader(io.StringIO(table or "")))
        total = sum(int(row["n"]) for row in rows) if rows else None
    except (KeyError, TypeError, ValueError):
        total = None
    answer = (read_text(client, bucket, "total.txt") or "").strip()
    wanted.append((total is not None, "counts.csv with a column n"))
    wanted.append((total is not None and answer == str(total), "total.txt: the sum of column n"))
    return requirements("bucket found", wanted, "the rule, 3 parts and the right total")


#: The files of chapter 40's exercise folder.
MINE = ("a.csv", "b.csv", "notes.txt")


@exercise(
    "buckets-cli",
    "40_buckets_cli",
    "mine/ synced twice into a bucket named by `s3lab bucket name`; second-sync.txt: its output",
)
def _buckets_cli(client: S3Client, bucket: str) -> Finding:
    have = listing(client, bucket, "mine/")
    missing = [name for name in MINE if f"mine/{name}" not in have]
    found = count_files(len(MINE) - len(missing), len(MINE), "under mine/", missing)
    extra = sorted(key for key in have if key.removeprefix("mine/") not in MINE)
    if not found.done or extra:
        more = f", and more than the folder: {', '.join(extra)}" if extra else ""
        return Finding(False, found.message + more, found.score)
    # the second sync's output, saved: empty when the second sync copied nothing
    second = read_text(client, bucket, "second-sync.txt")
    if second is None:
        return Finding(False, f"{found.message}, missing: second-sync.txt", found.score + 1)
    if second.strip():
        return Finding(
            False, f"{found.message}, but the second sync copied: {second.split()[:3]}", 5
        )
    return Finding(True, f"{found.message}, the second sync copied nothing", found.score + 2)


@exercise(
    "mount",
    "60_mount",
    "notes/hello.txt through a mount; ls.txt and rm.txt from the read-only mount of notes/",
)
def _mount(client: S3Client, bucket: str) -> Finding:
    found = holds(client, bucket, "notes/hello.txt", "Hello from a mounted folder")
    if not found.done:
        return Finding(False, f"bucket found, {found.message}", found.score)
    listed = read_text(client, bucket, "ls.txt")
    refused = read_text(client, bucket, "rm.txt")
    return requirements(
        f"bucket found, {found.message}",
        [
            (listed is not None and listed.split() == ["hello.txt"], "ls.txt: `ls` of ex/notes"),
            (
                refused is not None and "read-only file system" in refused.lower(),
                "rm.txt: the error of `rm` in ex/notes",
            ),
        ],
        "the read-only mount listed hello.txt and refused rm",
    )


@exercise(
    "mount-semantics",
    "70_mount_semantics",
    "tfile.txt renamed to notes.txt through a mount by copy and delete, its text kept",
)
def _mount_semantics(client: S3Client, bucket: str) -> Finding:
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
def _kopah(client: S3Client, bucket: str) -> Finding:
    want = ["a.csv", "b.csv", "c.csv"]
    have = {key.removeprefix("project/") for key in listing(client, bucket, "project/")}
    missing = [name for name in want if name not in have]
    found = count_files(len(want) - len(missing), len(want), "under project/", missing)
    if not found.done:
        return found
    # s3cmd stores its file attributes with each upload (x-amz-meta-s3cmd-attrs); aws does not
    by = {
        name: "s3cmd-attrs" in client.head_object(Bucket=bucket, Key=f"project/{name}")["Metadata"]
        for name in want
    }
    wrong = [f"{n} by {'s3cmd' if by[n] else 'aws'}" for n in want if by[n] != (n == "c.csv")]
    if wrong:
        return Finding(False, f"{found.message}, but {', '.join(wrong)}", found.score)
    return Finding(True, f"{found.message}, c.csv by s3cmd", found.score + 1)


@exercise(
    "containers",
    "containers",
    "ckpt-1.txt written from inside a container, through a bind-mounted mount: its host name",
)
def _containers(client: S3Client, bucket: str) -> Finding:
    text = read_text(client, bucket, "ckpt-1.txt")
    if text is None:
        return Finding(False, "bucket found, missing: ckpt-1.txt", 1)
    # docker and podman name a container's host after its id: 12 hexadecimal characters
    name = text.strip()
    if not re.fullmatch(r"[0-9a-f]{12}", name):
        return Finding(
            False, f"bucket found, ckpt-1.txt holds {name[:40]!r}, not a container's host name", 2
        )
    return Finding(True, f"bucket found, ckpt-1.txt written in container {name}", 3)


# In the book's order (the chapters' numbers), whatever order the checks above are written in:
# `s3lab check --list` and the classroom's console list them so.
#: Where an exercise on a prose page sits in the book: after this chapter.
AFTER = {"containers": "70_mount_semantics~"}
EXERCISES = dict(sorted(EXERCISES.items(), key=lambda item: AFTER.get(item[0], item[1].chapter)))
