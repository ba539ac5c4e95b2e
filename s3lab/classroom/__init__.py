"""A class on one SeaweedFS sandbox: a key per learner that reaches only their own buckets.

SeaweedFS scopes each action of an identity to bucket-name wildcards, so the identity of learner
``ada`` holds ``Read:ada-*``, ``Write:ada-*`` and so on: it may create, fill and remove buckets
whose names start with ``ada-`` and nothing else. The instructor's identity has every right.
While a class exists, the sandbox's own key (the AWS documentation's example key, which anyone
could type) may only list (:data:`s3lab.sandbox.servers.LIMITED_ACTIONS`).

Everything of a class lives in ``$S3LAB_HOME/class``: ``class.json`` (the keys, 0600) and, per
learner, a ready ``~/.aws`` snippet (``profiles/<name>/config`` and ``credentials``, 0600). The
snippet's profile (``s3lab-class``) carries the learner's name (``s3lab_learner``), which is how
:func:`s3lab.buckets.names.unique_name` starts every bucket name with ``<learner>-``; a learner
runs the book unchanged with ``S3LAB_BACKEND=class``.

Identities reach SeaweedFS through the sandbox's extra identities file, read again on SIGHUP
(:func:`s3lab.sandbox.reload_identities`), so starting or ending a class needs no restart.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import shutil
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import backends, buckets, checks, clients, sandbox, settings
from s3lab.classroom import hub
from s3lab.classroom.roster import MAX_NAME as MAX_NAME  # the roster's rules, re-exported
from s3lab.classroom.roster import check_name as check_name
from s3lab.classroom.roster import check_roster as check_roster
from s3lab.classroom.roster import numbered as numbered
from s3lab.classroom.roster import read_roster as read_roster
from s3lab.configure import awsfiles
from s3lab.errors import SandboxError, UsageError
from s3lab.sandbox import servers

if TYPE_CHECKING:
    import botocore.session
    from mypy_boto3_s3 import S3Client

INSTRUCTOR_PROFILE = "s3lab-instructor"
LOOPBACK = "127.0.0.1"


@dataclass
class Learner:
    """One seat: a name, its keys, and the ``~/.aws`` files it was installed into."""

    name: str
    access_key: str
    secret_key: str
    installed: list[str] = field(default_factory=list)


@dataclass
class Classroom:
    """A class as recorded in ``class.json``."""

    endpoint_url: str
    host: str
    created: str
    instructor_key: str
    instructor_secret: str
    learners: list[Learner] = field(default_factory=list)
    stopped: bool = False
    # the sandbox's STS helper (SeaweedFS has no STS), when learners are on this machine
    sts_url: str = ""

    def names(self) -> list[str]:
        """The learners' names, in roster order."""
        return [learner.name for learner in self.learners]

    def owner(self, bucket: str) -> str | None:
        """The learner whose key may reach ``bucket`` (its name starts with ``<learner>-``)."""
        return next((n for n in self.names() if bucket.startswith(f"{n}-")), None)


# --- where a class lives -------------------------------------------------------------------------


def class_dir(home: Path | str | None = None) -> Path:
    """``$S3LAB_HOME/class``: the class's keys and the learners' profile snippets."""
    return (Path(home) if home else settings.home()) / "class"


def snippet_dir(name: str, home: Path | str | None = None) -> Path:
    """Where a learner's ``config`` and ``credentials`` snippets are."""
    return class_dir(home) / "profiles" / name


def load(home: Path | str | None = None) -> Classroom:
    """The class recorded here, or a UsageError saying how to start one.

    Raises:
        UsageError: no class is set up here.
    """
    try:
        raw = json.loads((class_dir(home) / "class.json").read_text())
        raw["learners"] = [Learner(**item) for item in raw["learners"]]
        return Classroom(**raw)
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            "no class is set up here", "start one with `s3lab classroom start --learners N`"
        ) from None


def _save(room: Classroom, home: Path | str | None) -> None:
    awsfiles.write_private(class_dir(home) / "class.json", json.dumps(asdict(room), indent=2))


def _new_keys() -> tuple[str, str]:
    upper = string.ascii_uppercase + string.digits
    key = "AKIA" + "".join(secrets.choice(upper) for _ in range(16))
    return key, secrets.token_urlsafe(30)[:40]


def _identities(room: Classroom, *, closed: bool = False) -> dict[str, Any]:
    """What the class adds to the server: the instructor's identity and the learners'.

    A stopped class's learners, and everyone once ``closed``, keep their identity with a new
    secret and no rights: SeaweedFS 4.48's reload (SIGHUP) updates identities it knows but
    forgets none (measured: a key taken out of the file still worked until a restart), so a key
    is refused by changing it, and only then taken out of the file.
    """
    everyone: list[tuple[str, str, str, str | None]] = [
        ("instructor", room.instructor_key, room.instructor_secret, None)
    ]
    everyone += [(x.name, x.access_key, x.secret_key, x.name) for x in room.learners]
    identities = []
    for name, key, secret, scope in everyone:
        actions = [f"{a}:{scope}-*" if scope else a for a in servers.ALL_ACTIONS]
        if closed or (room.stopped and scope):  # refused: a secret nobody has, no rights
            secret, actions = _new_keys()[1], list(servers.LIMITED_ACTIONS)
        identities.append(
            {
                "name": f"class-{name}",
                "actions": actions,
                "credentials": [{"accessKey": key, "secretKey": secret}],
            }
        )
    extra: dict[str, Any] = {"identities": identities, "limit_sandbox_key": not closed}
    if room.host != LOOPBACK:
        extra["s3_bind"] = "0.0.0.0"  # S3 only; SeaweedFS's other parts stay on 127.0.0.1
    return extra


def _apply(room: Classroom | None, home: Path | str | None, *, closed: bool = False) -> None:
    """Give the server the class's identities (none when ``room`` is None), without a restart."""
    path = sandbox.sandbox_dir(home) / servers.EXTRA_IDENTITIES
    if room is None:
        path.unlink(missing_ok=True)
    else:
        awsfiles.write_private(path, json.dumps(_identities(room, closed=closed), indent=2))
    sandbox.reload_identities(home)


_SESSION: list[botocore.session.Session] = []  # one for every key: its service model loads once
_SESSION_LOCK = threading.Lock()


def client(room: Classroom, who: str = "instructor") -> S3Client:
    """An S3 client on the class's server with the instructor's key, or a learner's.

    Raises:
        UsageError: ``who`` is not in the class.
    """
    if who == "instructor":
        keys = (room.instructor_key, room.instructor_secret)
    else:
        seat = next((x for x in room.learners if x.name == who), None)
        if seat is None:
            raise UsageError(f"{who!r} is not in this class", f"one of: {', '.join(room.names())}")
        keys = (seat.access_key, seat.secret_key)
    endpoint = room.endpoint_url.replace(f"//{room.host}:", f"//{LOOPBACK}:")
    with _SESSION_LOCK:  # a botocore session makes clients one at a time
        if not _SESSION:
            _SESSION.append(sandbox.botocore_session())
        return clients.client(
            _SESSION[0],
            "s3",
            helpers=False,  # one session for every client: boto3's handlers would pile up on it
            endpoint_url=endpoint,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
        )


def _wait_for(room: Classroom, who: str, *, allowed: bool, timeout: float = 15.0) -> None:
    """Wait until the server accepts (or refuses) ``who``'s key: SIGHUP's reload is quick."""
    from botocore.exceptions import ClientError

    probe = client(room, who)
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe.list_buckets()
            ok = True
        except ClientError:
            ok = False
        if ok == allowed:
            return
        if time.monotonic() > deadline:
            state = "accept" if allowed else "refuse"
            raise SandboxError(
                f"the server did not {state} the class's keys within {timeout:.0f} s",
                "restart it (`s3lab sandbox stop --backend server`, then `start`): the class's "
                "keys are kept",
            )
        time.sleep(0.2)


# --- profiles ------------------------------------------------------------------------------------


def _profile(room: Classroom, seat: Learner | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(profile name, config values, credentials values) for a learner or the instructor."""
    name = INSTRUCTOR_PROFILE if seat is None else backends.CLASS_PROFILE
    config: dict[str, Any] = {
        "region": sandbox.REGION,
        "endpoint_url": room.endpoint_url,
        "s3": {"addressing_style": "path"},
        # S3 and STS each to their own server, from the config file alone (see configure)
        "services": name,
    }
    if seat is None:
        keys = {
            "aws_access_key_id": room.instructor_key,
            "aws_secret_access_key": room.instructor_secret,
        }
        return INSTRUCTOR_PROFILE, config, keys
    config[backends.LEARNER_KEY] = seat.name
    keys = {"aws_access_key_id": seat.access_key, "aws_secret_access_key": seat.secret_key}
    return backends.CLASS_PROFILE, config, keys


def _write_profile(
    folder: Path, profile: tuple[str, dict[str, Any], dict[str, Any]], room: Classroom
) -> None:
    """Add (or replace) the profile in ``folder``'s ``config`` and ``credentials``, 0600.

    The config also gets the profile's ``[services NAME]`` section: S3 to the class's server,
    STS to the sandbox's STS helper, so ``aws sts get-caller-identity`` answers a learner.
    """
    from s3lab.configure.awsfiles import service_endpoints, services_section

    name, config, keys = profile
    for file, values, is_config in (("config", config, True), ("credentials", keys, False)):
        path = folder / file
        old = path.read_text() if path.is_file() else ""
        section = awsfiles.section_name(name, config=is_config)
        text = awsfiles.set_values(old, section, values)
        if is_config:
            services = service_endpoints(room.endpoint_url, room.sts_url or room.endpoint_url)
            text = awsfiles.set_values(text, services_section(name), services)
        awsfiles.write_private(path, text)


def _write_snippets(room: Classroom, home: Path | str | None) -> None:
    for seat in [None, *room.learners]:
        folder = snippet_dir(seat.name if seat else "instructor", home)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for file in ("config", "credentials"):
            (folder / file).unlink(missing_ok=True)
        _write_profile(folder, _profile(room, seat), room)


UserLookup = Callable[[str], "tuple[Path, int, int] | None"]


def linux_user(name: str) -> tuple[Path, int, int] | None:
    """(home, uid, gid) of the Linux user ``name``, or None when there is none."""
    import pwd

    try:
        found = pwd.getpwnam(name)
    except KeyError:
        return None
    return Path(found.pw_dir), found.pw_uid, found.pw_gid


def require_root() -> None:
    """Installing profiles writes into other users' ``~/.aws``: only root may."""
    if os.geteuid() != 0:
        raise UsageError(
            "--install-profiles writes into other users' ~/.aws: it needs root",
            "run it with sudo, or hand out the snippets by hand",
        )


def install_profiles(
    home: Path | str | None = None, *, lookup: UserLookup = linux_user, need_root: bool = True
) -> dict[str, str]:
    """Install each learner's profile into the ``~/.aws`` of the Linux user of that name.

    Root only (the files belong to each user). Other profiles in those files are kept. Returns
    learner -> where it went, or why not (no such user).
    """
    if need_root:
        require_root()
    room = load(home)
    done: dict[str, str] = {}
    for seat in room.learners:
        user = lookup(seat.name)
        if user is None:
            done[seat.name] = "no Linux user of that name: hand out the snippet"
            continue
        user_home, uid, gid = user
        folder = user_home / ".aws"
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chown(folder, uid, gid)
        _write_profile(folder, _profile(room, seat), room)
        for file in ("config", "credentials"):
            os.chown(folder / file, uid, gid)
        seat.installed = [str(folder / "config"), str(folder / "credentials")]
        done[seat.name] = f"~{seat.name}/.aws (profile {backends.CLASS_PROFILE})"
    _save(room, home)
    return done


def _uninstall(seat: Learner) -> None:
    """Take the class's profile out of the ``~/.aws`` files it was installed into."""
    for file in seat.installed:
        path = Path(file)
        if path.is_file():
            is_config = path.name == "config"
            section = awsfiles.section_name(backends.CLASS_PROFILE, config=is_config)
            keys = ("aws_access_key_id", "aws_secret_access_key")
            settings = ("region", "endpoint_url", "s3", "services", backends.LEARNER_KEY)
            values = dict.fromkeys(keys if not is_config else settings)
            owner = path.stat()
            text = awsfiles.set_values(path.read_text(), section, values)
            sections = [section]
            if is_config:
                services = f"services {backends.CLASS_PROFILE}"
                text = awsfiles.set_values(text, services, dict.fromkeys(("s3", "sts")))
                sections.append(services)
            for empty in sections:  # a section left with nothing in it goes too
                text = re.sub(rf"(?m)^\[{re.escape(empty)}\]\n(?=\s*(?:\[|\Z))", "", text)
            awsfiles.write_private(path, text)
            os.chown(path, owner.st_uid, owner.st_gid)


# --- start, status, check, stop, cleanup ---------------------------------------------------------


def start(
    roster: list[str], *, host: str | None = None, home: Path | str | None = None
) -> Classroom:
    """Start serving a class: the server sandbox, an identity per learner, their snippets.

    Raises:
        UsageError: a class is set up already, or ``host`` is not an address.
    """
    roster = check_roster(roster)
    if (class_dir(home) / "class.json").exists():
        raise UsageError(
            "a class is already set up here",
            "see it with `s3lab classroom status`; end it with `s3lab classroom cleanup`",
        )
    host = (host or LOOPBACK).strip()
    if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or host[0] == "-" or host == "0.0.0.0":
        raise UsageError(
            f"{host!r} is not a host name or IPv4 address learners can reach",
            "give the address learners reach this machine at, e.g. 10.0.0.5",
        )
    box = sandbox.start("server", home=home)
    key, secret = _new_keys()
    room = Classroom(
        endpoint_url=box.endpoint_url.replace(f"//{LOOPBACK}:", f"//{host}:"),
        host=host,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        instructor_key=key,
        instructor_secret=secret,
        learners=[Learner(name, *_new_keys()) for name in roster],
        # the STS helper listens on 127.0.0.1 only: learners elsewhere get no STS
        sts_url=box.sts_url if host == LOOPBACK else "",
    )
    class_dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    _save(room, home)
    _apply(room, home)
    if host != LOOPBACK:  # S3 must listen beyond loopback: only a restart changes that
        sandbox.stop("server", home=home)
        sandbox.start("server", home=home)
    _wait_for(room, "instructor", allowed=True)
    _wait_for(room, room.learners[-1].name, allowed=True)
    _write_snippets(room, home)
    return room


def start_hub(
    room: Classroom, *, admin: str, port: int | None = None, home: Path | str | None = None
) -> hub.Hub:
    """Start a JupyterHub for ``room`` on this machine (root): see :mod:`s3lab.classroom.hub`.

    The hub makes the missing users; then each learner's profile goes into their ``~/.aws``.
    """
    folder = class_dir(home)
    served = hub.start(room, admin=admin, home=folder.parent, port=port)
    try:
        install_profiles(home)
    except BaseException:
        hub.remove(folder, room.names())
        raise
    return served


@dataclass
class Seat:
    """What ``status`` shows for one learner."""

    learner: str
    buckets: int = 0
    objects: int = 0
    bytes: int = 0
    last_activity: str = ""  # ISO time of the newest bucket or object; empty when none


def status(home: Path | str | None = None) -> list[Seat]:
    """Per learner: buckets, objects, bytes and the time of the newest bucket or object."""
    room = load(home)
    s3 = client(room)
    seats = {name: Seat(name) for name in room.names()}
    newest: dict[str, _dt.datetime] = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        owner = room.owner(bucket["Name"])
        if owner is None:
            continue
        seat = seats[owner]
        seat.buckets += 1
        times = [bucket.get("CreationDate")]
        for item in buckets.iter_objects(s3, bucket["Name"]):
            seat.objects += 1
            seat.bytes += item.size
            times.append(item.modified)
        latest = max((t for t in times if t is not None), default=None)
        if latest and (owner not in newest or latest > newest[owner]):
            newest[owner] = latest
    for owner, when in newest.items():
        seats[owner].last_activity = when.astimezone(_dt.UTC).isoformat(timespec="seconds")
    return list(seats.values())


def check(exercise: str, home: Path | str | None = None) -> list[checks.CheckResult]:
    """Run ``exercise``'s self-check for every learner, with the instructor's key.

    Raises:
        UsageError: the exercise checks files on the learner's own machine.
    """
    room = load(home)
    if checks.find(exercise).local:
        raise UsageError(
            f"exercise {exercise!r} checks files on the learner's own machine",
            f"ask the learners to run `s3lab check {exercise}` themselves",
        )
    s3 = client(room)
    return [checks.check(exercise, client=s3, learner=name) for name in room.names()]


def stop(home: Path | str | None = None) -> Classroom:
    """Stop serving the class: the learners' keys are refused; buckets stay for ``cleanup``."""
    room = load(home)
    room.stopped = True
    _save(room, home)
    hub.stop(class_dir(home), room.names())  # the learners' servers end with their keys
    _apply(room, home)
    if room.learners and sandbox.running("server", home, thorough=False):
        _wait_for(room, room.learners[-1].name, allowed=False)
    return room


@dataclass
class Cleaned:
    """What ``cleanup`` removed."""

    buckets: list[str] = field(default_factory=list)
    identities: int = 0
    profiles: int = 0
    users: list[str] = field(default_factory=list)  # Linux users the hub made, removed


def cleanup(home: Path | str | None = None, *, dry_run: bool = False) -> Cleaned:
    """Remove exactly the class's buckets, keys, snippets, profiles, hub and the users it made.

    Linux users that existed before the hub stay. A bucket is the class's when its name starts
    with ``<learner>-`` for a learner of the class: the only buckets their keys could make.
    Nothing else is touched.

    Raises:
        SandboxError: the server sandbox is not running.
    """
    room = load(home)
    if not sandbox.running("server", home, thorough=False):
        raise SandboxError(
            "the server sandbox is not running, so the class's buckets cannot be removed",
            "start it with `s3lab sandbox start --backend server`, then run this again",
        )
    s3 = client(room)
    if room.stopped:  # the instructor's key is still served; make sure it is
        _wait_for(room, "instructor", allowed=True)
    mine = sorted(b["Name"] for b in s3.list_buckets().get("Buckets", []) if room.owner(b["Name"]))
    done = Cleaned(mine, len(room.learners) + 1, sum(bool(x.installed) for x in room.learners))
    made = hub.load(class_dir(home))
    done.users = list(made.made_users) if made else []
    if dry_run:
        return done
    hub.remove(class_dir(home), room.names())  # first: no server may write while buckets go
    with ThreadPoolExecutor(max_workers=8) as pool:  # a class leaves many small buckets
        list(pool.map(lambda name: buckets.remove_bucket(s3, name, force=True), mine))
    for seat in room.learners:
        _uninstall(seat)
    _apply(room, home, closed=True)
    _wait_for(room, "instructor", allowed=False)
    _apply(None, home)
    if room.host != LOOPBACK:  # close the S3 port to the network again: only a restart does
        sandbox.stop("server", home=home)
        sandbox.start("server", home=home)
    shutil.rmtree(class_dir(home))
    return done
