"""What each mount program does with an append, a rename, an ``rm``...: plain rows of data.

A mounted bucket looks like a folder, but each FUSE program fakes a different part of POSIX.
:data:`ROWS` holds one row per program and behaviour; :func:`semantics` is a filter over them.
Mountpoint's rows come from its documentation and the seed page (it cannot be installed here);
rclone's (``--vfs-cache-mode off``) and s3fs's (1.90) were measured, and
tests/integration/mount/test_mount.py runs every :data:`COMMANDS` line on real mounts and
compares it with these rows on every run.

A leaf module: data and two small functions, no s3lab imports but errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3lab.errors import UsageError

#: The mount programs, in the order ``auto`` prefers them.
TOOLS = ("mountpoint", "rclone", "s3fs")

#: What ``df`` reports for a Mountpoint folder: 2**53 blocks of 1 KiB (2**63 bytes, about 9 EB).
MOUNTPOINT_DF_BLOCKS = 9_007_199_254_740_992

# The command of each behaviour, in the order the chapter shows them.
COMMANDS = {
    "sequential_write": "echo hello > new.txt",
    "append": "echo one > a.txt && echo two >> a.txt",
    "overwrite": "echo one > o.txt && echo two > o.txt",
    "delete": "echo x > d.txt && rm d.txt",
    "rename_file": "echo x > m.txt && mv m.txt m2.txt",
    "rename_dir": "mkdir dd && echo x > dd/f.txt && mv dd dd2",
    "empty_dir_in_s3": "mkdir empty",
    "symlink": "echo x > t.txt && ln -s t.txt link",
    "df_size": "df -k .",
}

DOCS = "Mountpoint docs: doc/SEMANTICS.md (awslabs/mountpoint-s3)"
SEED_PAGE = "observed with mount-s3 1.19 on the seed page (robfatland/nexus cloud/aws.md)"
MEASURED = "measured here against SeaweedFS; checked on real mounts on every test run"


@dataclass(frozen=True)
class Row:
    """One program's answer to one behaviour.

    ``allowed_by`` names the flag (``allow_delete`` or ``allow_overwrite``) that turns a refusal
    into success; only Mountpoint can refuse, so only its rows name one.
    """

    tool: str
    name: str
    works: bool
    error: str = ""
    note: str = ""
    source: str = MEASURED
    value: int | None = None  # for df: the size in 1K-blocks
    allowed_by: str = ""


_DENIED = "Operation not permitted"

ROWS: tuple[Row, ...] = (
    # --- Mountpoint (mount-s3): from its documentation and the seed page
    Row("mountpoint", "sequential_write", True, note="new files, written from 0", source=DOCS),
    Row(
        "mountpoint",
        "append",
        False,
        _DENIED,
        "no appends (except S3 Express One Zone); an existing file may only be replaced whole, "
        "with --allow-overwrite and O_TRUNC",
        DOCS,
    ),
    Row(
        "mountpoint",
        "overwrite",
        False,
        _DENIED,
        "needs --allow-overwrite (and O_TRUNC, which `>` uses); editors that save in place fail "
        "without it (seed behaviour 2)",
        DOCS,
        allowed_by="allow_overwrite",
    ),
    Row(
        "mountpoint",
        "delete",
        False,
        _DENIED,
        "needs --allow-delete; the delete is immediate and final (seed behaviour 4)",
        DOCS,
        allowed_by="allow_delete",
    ),
    Row(
        "mountpoint",
        "rename_file",
        False,
        "Function not implemented",
        "no rename, even with --allow-delete: copy then remove (seed behaviour 7)",
        DOCS,
    ),
    Row("mountpoint", "rename_dir", False, _DENIED, "no directory rename", DOCS),
    Row(
        "mountpoint",
        "empty_dir_in_s3",
        False,
        note="mkdir is local: the folder exists in S3 only once it holds a file, and is gone "
        "after a remount if it never did (seed behaviour 5)",
        source=DOCS,
    ),
    Row(
        "mountpoint",
        "symlink",
        False,
        note="no symbolic or hard links (the docs name no error)",
        source=DOCS,
    ),
    Row(
        "mountpoint",
        "df_size",
        True,
        note="filesystem mountpoint-s3: 2**53 1K-blocks, about 9 EB",
        source=SEED_PAGE,
        value=MOUNTPOINT_DF_BLOCKS,
    ),
    # --- rclone mount --vfs-cache-mode off: measured
    Row("rclone", "sequential_write", True, note="uploaded when the file closes"),
    Row(
        "rclone",
        "append",
        False,
        "Illegal seek",
        "with --vfs-cache-mode off a write may not seek; Python's open(..., 'a') gets "
        "'Operation not permitted' instead",
    ),
    Row("rclone", "overwrite", True, note="always allowed when opened with O_TRUNC"),
    Row("rclone", "delete", True, note="rclone cannot refuse deletes: --allow-delete or not"),
    Row("rclone", "rename_file", True, note="server-side copy, then delete"),
    Row("rclone", "rename_dir", True, note="copies and deletes every object under it"),
    Row("rclone", "empty_dir_in_s3", False, note="kept in rclone's memory only, like Mountpoint"),
    Row("rclone", "symlink", False, "Input/output error", "needs rclone's --links flag"),
    Row(
        "rclone",
        "df_size",
        True,
        note="rclone's default when the store reports no size (1 PiB)",
        value=1_099_511_627_776,
    ),
    # --- s3fs 1.90: measured
    Row("s3fs", "sequential_write", True),
    Row("s3fs", "append", True, note="by rewriting the whole object"),
    Row("s3fs", "overwrite", True, note="always allowed"),
    Row("s3fs", "delete", True, note="s3fs cannot refuse deletes: --allow-delete or not"),
    Row("s3fs", "rename_file", True, note="copy then delete: not atomic"),
    Row("s3fs", "rename_dir", True, note="copies and deletes every object under it"),
    Row("s3fs", "empty_dir_in_s3", True, note="s3fs writes a zero-byte marker object 'empty/'"),
    Row("s3fs", "symlink", True, note="stored as a small object holding the target"),
    Row(
        "s3fs",
        "df_size",
        True,
        note="s3fs 1.90's fixed answer (about 16 EiB)",
        value=18_014_398_509_465_600,
    ),
)


@dataclass(frozen=True)
class Behaviour:
    """What one program does for one thing a person tries in a mounted bucket.

    ``command`` is the shell line that shows it (run in an empty folder of the mount); the tests
    run exactly that line on real mounts, so ``works`` and ``error`` are facts, not hopes.
    """

    name: str
    command: str
    works: bool
    error: str = ""  # the error text the shell prints when it fails, e.g. "Operation not permitted"
    note: str = ""
    source: str = ""
    value: int | None = None  # for df: the size in 1K-blocks

    def outcome(self) -> str:
        """One short phrase: ``works`` or ``fails: <error>``."""
        if self.value is not None:
            return f"{self.value:,} 1K-blocks"
        if self.name == "empty_dir_in_s3":
            return "in S3 at once" if self.works else "not in S3 until it holds a file"
        if self.works:
            return "works"
        return f"fails: {self.error}" if self.error else "fails"


def check_tool(name: str) -> str:
    """Return a valid mount program name (mountpoint, rclone, s3fs), or raise with the choices.

    Raises:
        UsageError: ``name`` is not a mount tool.
    """
    cleaned = (name or "").strip().lower()
    if cleaned in ("mount-s3", "mountpoint-s3"):
        cleaned = "mountpoint"
    if cleaned not in TOOLS:
        raise UsageError(f"unknown mount tool {name!r}", f"use auto or one of {', '.join(TOOLS)}")
    return cleaned


def semantics(
    tool: str, *, allow_delete: bool = False, allow_overwrite: bool = False
) -> dict[str, Behaviour]:
    """What ``tool`` (mountpoint, rclone or s3fs) does for each command in :data:`COMMANDS`.

    The flags matter only for Mountpoint: rclone and s3fs have no way to refuse a delete or an
    overwrite, so they behave the same with or without ``--allow-delete``/``--allow-overwrite``.
    """
    chosen = check_tool(tool)
    flags = {"allow_delete": allow_delete, "allow_overwrite": allow_overwrite}
    found = {}
    for row in ROWS:
        if row.tool != chosen:
            continue
        allowed = bool(row.allowed_by) and flags[row.allowed_by]
        works, error = (True, "") if allowed else (row.works, row.error)
        found[row.name] = Behaviour(
            row.name, COMMANDS[row.name], works, error, row.note, row.source, row.value
        )
    return {name: found[name] for name in COMMANDS}


def compare(name: str, tool: str, **flags: bool) -> str:
    """Lines for the chapter: what ``tool`` does, and what Mountpoint does (with a source)."""
    mine = semantics(tool, **flags)[name]
    theirs = semantics("mountpoint", **flags)[name]
    lines = [f"{tool:10} {mine.outcome()}" + (f"  ({mine.note})" if mine.note else "")]
    if tool != "mountpoint":
        note = f"  ({theirs.note})" if theirs.note else ""
        lines.append(f"{'mountpoint':10} {theirs.outcome()}{note}")
        lines.append(f"{'':10} source: {theirs.source}")
    return "\n".join(lines)
