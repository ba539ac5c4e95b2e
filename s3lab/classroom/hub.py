"""A class on a real JupyterHub, on this machine: a Linux user, a password and a server each.

``s3lab classroom start --hub`` (root only) turns a class into a hub an instructor can hand out:

- each learner is a Linux user (made here only when missing, and then removed by ``cleanup``);
- each made user gets a generated password, on a sheet readable only by root
  (``$S3LAB_HOME/class/hub/passwords.txt``). The hub checks passwords with PAM (JupyterHub's
  default authenticator), so a learner who already has an account keeps their own password,
  nobody can claim another's name first (as with first-use passwords), and no extra package
  or sign-up step is needed;
- each learner's ``~/.aws`` holds their ``s3lab-class`` profile, and their server runs with
  ``S3LAB_BACKEND=class``: the book runs unchanged with their own key;
- the book's notebooks are copied into ``~/s3lab-notebooks`` (nbgitpuller needs a reachable git
  remote; a copy works offline);
- the instructor is the hub's admin (``/hub/admin``) and sees the class console, a hub service
  at ``/services/classroom/`` (:mod:`s3lab.classroom.console`).

The hub serves plain HTTP: HTTPS is left to the host (a TLS proxy in front, or
``c.JupyterHub.ssl_cert``/``ssl_key``).

What the hub made is recorded in ``hub/hub.json``; ``stop`` ends the hub (which ends the
learners' servers and its proxy) and ``remove`` also removes the users it made.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3lab import processes
from s3lab.configure import awsfiles
from s3lab.errors import SandboxError, UsageError
from s3lab.sandbox import ports

ROOT = Path(__file__).resolve().parents[2]  # the repository, for an editable install
#: Where set-up puts what the hub needs beside Python (``bash tasks.sh setup``).
TOOLS = ROOT / ".hub"
PROXY = TOOLS / "node_modules" / ".bin" / "configurable-http-proxy"
NOTEBOOKS = "s3lab-notebooks"  # the folder in each learner's home
CONSOLE = "classroom"  # the hub service's name: /services/classroom/
HTTPS_NOTE = (
    "HTTPS is left to the host: put a TLS proxy (nginx, Caddy) in front of the hub, "
    "or set c.JupyterHub.ssl_cert and ssl_key"
)


@dataclass
class Hub:
    """What ``hub.json`` records: where the hub is and what it made."""

    url: str  # what learners open
    ip: str
    port: int
    admin: str
    made_users: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # the notebook folders it made
    process: dict[str, Any] = field(default_factory=dict)  # processes.Identity.as_record()
    api_token: str = ""  # the s3lab service's token (hub.json is 0600, root's)
    running: bool = False

    @property
    def admin_url(self) -> str:
        """The hub's admin page."""
        return f"{self.url}hub/admin"

    @property
    def console_url(self) -> str:
        """The class console, a hub service."""
        return f"{self.url}services/{CONSOLE}/"


def hub_dir(folder: Path) -> Path:
    """``<class folder>/hub``: the hub's configuration, database, log and password sheet."""
    return folder / "hub"


def load(folder: Path) -> Hub | None:
    """The hub of the class in ``folder``, or None when the class has none."""
    try:
        return Hub(**json.loads((hub_dir(folder) / "hub.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _save(hub: Hub, folder: Path) -> None:
    awsfiles.write_private(hub_dir(folder) / "hub.json", json.dumps(asdict(hub), indent=2))


# --- what the hub needs --------------------------------------------------------------------------


def require_root() -> None:
    """Users, their homes and a hub that starts servers as them: only root may."""
    if os.geteuid() != 0:
        raise UsageError(
            "--hub makes Linux users and starts servers as them: it needs root",
            "run it with sudo on the hub machine",
        )


def proxy() -> Path:
    """configurable-http-proxy: set-up's copy in ``.hub/``, else one on PATH."""
    found = PROXY if PROXY.exists() else shutil.which("configurable-http-proxy")
    if not found:
        raise UsageError(
            "configurable-http-proxy (JupyterHub's proxy, from npm) is not installed",
            "run `bash tasks.sh setup` as root: it installs nodejs and npm, then the proxy "
            "into .hub/",
        )
    return Path(found)


def _reachable_by_all(path: Path) -> bool:
    """True when every user may run ``path``: it and each folder above it are o+x."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def learner_python() -> Path:
    """A Python the learners may run, with s3lab and JupyterHub importable.

    This process's own when every user can reach it. A virtual environment made from a Python
    under ``/root`` (pyenv's, 0700) cannot be: then a small environment is made in ``.hub/`` from
    the system's Python of the same version, which reads this one's packages (a ``.pth`` line),
    with its own kernel and an ``aws`` that run on it.
    """
    here = Path(sys.executable)
    base = Path(sys.base_prefix)
    if _reachable_by_all(here) and _reachable_by_all(base / "lib"):
        return here
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    system = next(
        (p for p in (Path(f"/usr/bin/python{version}"), Path("/usr/bin/python3")) if p.exists()),
        None,
    )
    ok = system is not None and subprocess.run(
        [str(system), "-c", f"import sys; assert sys.version.startswith('{version}.')"],
        capture_output=True,
        check=False,
    )
    if system is None or not ok or not ok.returncode == 0:
        raise UsageError(
            f"the learners cannot run this Python ({here}: a folder above it is closed to them)"
            f" and there is no /usr/bin/python{version} to run them on",
            f"make the virtual environment from a Python every user can run: "
            f"S3LAB_PYTHON=/usr/bin/python{version} bash tasks.sh setup",
        )
    folder = TOOLS / f"learners-python{version}"
    python = folder / "bin" / "python"
    site = next(Path(sys.prefix, "lib").glob("python*/site-packages"))
    if not (_reachable_by_all(site) and _reachable_by_all(ROOT)):
        raise UsageError(
            f"the learners cannot read s3lab's environment ({sys.prefix}): a folder above it is "
            "closed to them",
            "clone the project where every user may read it (e.g. /opt/s3lab), then set up there",
        )
    if not python.exists():
        subprocess.run(
            [str(system), "-m", "venv", "--without-pip", str(folder)],
            check=True,
            capture_output=True,
        )
    own_site = next((folder / "lib").glob("python*/site-packages"))
    (own_site / "s3lab-venv.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    kernel = folder / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": "Python (s3lab)",
        "language": "python",
    }  # fmt: skip
    (kernel / "kernel.json").write_text(json.dumps(spec, indent=1))
    aws = folder / "bin" / "aws"
    aws.write_text(f'#!/bin/sh\nexec {python} -m awscli "$@"\n')
    aws.chmod(0o755)
    for path in (folder, *folder.rglob("*")):
        path.chmod(path.stat().st_mode | 0o005 | (0o010 if path.is_dir() else 0))
    return python


# --- users ---------------------------------------------------------------------------------------


def _new_password() -> str:
    """Easy to read off a slip: no 0/O or 1/l, 4 groups of 4."""
    letters = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(letters) for _ in range(4)) for _ in range(4))


def _admin(argv: list[str], stdin: str | None = None) -> None:
    """Run a user-administration command; another's ``useradd`` may hold the lock a moment."""
    for attempt in range(10):
        done = subprocess.run(argv, input=stdin, text=True, capture_output=True, check=False)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr or attempt == 9:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise SandboxError(
                f"{argv[0]} failed: {why}",
                "see that the name is free and /etc/passwd is writable, then "
                "`s3lab classroom cleanup` and start again",
            )
        time.sleep(0.5)


def make_user(name: str) -> str:
    """Make the Linux user ``name`` with a home and a new password; return the password."""
    _admin(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name])
    Path(pwd.getpwnam(name).pw_dir).chmod(0o700)  # a learner's work is their own
    password = _new_password()
    _admin(["chpasswd"], stdin=f"{name}:{password}\n")
    return password


def user_processes(names: list[str]) -> list[Any]:
    """The live processes that run as one of these users."""
    import psutil

    uids = set()
    for name in names:
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(name).pw_uid)
    found = []
    for proc in psutil.process_iter(["uids"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["uids"] and proc.info["uids"].real in uids:
                found.append(proc)
    return found


def class_processes(names: list[str], made: list[str]) -> list[Any]:
    """The class's processes of these users, and nothing of theirs that is not the class's.

    All processes of a user the hub made; of a user who was there before, only their hub
    server and what it started, never their own logins.
    """
    import psutil

    found = []
    for proc in user_processes(names):
        with contextlib.suppress(psutil.Error):
            if proc.username() in made or any(
                "jupyterhub.singleuser" in " ".join(p.cmdline()) for p in [proc, *proc.parents()]
            ):
                found.append(proc)
    return found


def _end(procs: list[Any]) -> None:
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def remove_user(name: str) -> None:
    """End the user's processes, then remove the user, their group and their home."""
    _end(user_processes([name]))
    _admin(["userdel", "--remove", name])


def copy_notebooks(name: str, source: Path) -> bool:
    """Copy the book's notebooks into ``~name/s3lab-notebooks``; False when it is there already."""
    user = pwd.getpwnam(name)
    target = Path(user.pw_dir) / NOTEBOOKS
    if target.exists():
        return False
    target.mkdir(mode=0o755)
    for notebook in sorted(source.glob("*.ipynb")):
        shutil.copyfile(notebook, target / notebook.name)
    for path in (target, *target.iterdir()):
        os.chown(path, user.pw_uid, user.pw_gid)
    return True


# --- the hub -------------------------------------------------------------------------------------


def config(
    room: Any, hub: Hub, *, python: Path, home: Path, proxy_api_port: int, hub_port: int
) -> str:
    """The ``jupyterhub_config.py`` of a class: values only, written out as Python literals.

    ``home`` is the class's ``S3LAB_HOME``: the console reads the class from there.
    """
    folder = hub_dir(home / "class")
    tools = python.parent
    shared = Path(sys.prefix, "share", "jupyter")
    console_port = ports.free_port({hub.port, proxy_api_port, hub_port})
    values: list[tuple[str, Any]] = [
        ("JupyterHub.ip", hub.ip),
        ("JupyterHub.port", hub.port),
        ("JupyterHub.hub_ip", "127.0.0.1"),
        ("JupyterHub.hub_port", hub_port),
        ("ConfigurableHTTPProxy.api_url", f"http://127.0.0.1:{proxy_api_port}"),
        ("ConfigurableHTTPProxy.command", [str(proxy())]),
        ("ConfigurableHTTPProxy.pid_file", str(folder / "proxy.pid")),
        ("JupyterHub.db_url", f"sqlite:///{folder / 'jupyterhub.sqlite'}"),
        ("JupyterHub.cookie_secret_file", str(folder / "cookie_secret")),
        ("JupyterHub.pid_file", str(folder / "hub.pid")),
        ("JupyterHub.cleanup_servers", True),
        ("JupyterHub.cleanup_proxy", True),
        ("Authenticator.allowed_users", set(room.names())),
        ("Authenticator.admin_users", {hub.admin}),
        ("PAMAuthenticator.open_sessions", False),
        ("Spawner.cmd", [str(python), "-m", "jupyterhub.singleuser"]),
        ("Spawner.notebook_dir", "~"),
        ("Spawner.default_url", f"/lab/tree/{NOTEBOOKS}"),
        # a learner's server ends on SIGTERM as cleanly as on SIGINT: do not wait 10 s for it
        ("LocalProcessSpawner.interrupt_timeout", 1),
        ("Spawner.start_timeout", 120),
        ("Spawner.http_timeout", 120),
        (
            "Spawner.environment",
            {
                "S3LAB_BACKEND": "class",
                "PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin",
                # the kernel that runs on ``python``, then this environment's JupyterLab, its
                # extensions (jupyterlab-myst) and their settings, wherever ``python`` is
                "JUPYTER_PATH": f"{python.parents[1] / 'share/jupyter'}:{shared}",
                "JUPYTER_CONFIG_PATH": str(Path(sys.prefix, "etc", "jupyter")),
                "JUPYTERLAB_DIR": f"{shared}/lab",
            },
        ),
        (
            "JupyterHub.services",
            [
                {
                    "name": CONSOLE,
                    "display": True,
                    "url": f"http://127.0.0.1:{console_port}",
                    "command": [sys.executable, "-m", "s3lab.classroom.console"],
                    "environment": {"S3LAB_HOME": str(home)},
                    "oauth_no_confirm": True,
                },
                {"name": "s3lab", "api_token": hub.api_token},
            ],
        ),
        (
            "JupyterHub.load_roles",
            [
                {
                    "name": "s3lab-console",
                    "services": [CONSOLE],
                    "scopes": ["list:users", "read:users", "read:servers"],
                },
                {
                    "name": "s3lab",
                    "services": ["s3lab"],
                    "scopes": ["admin:users", "admin:servers", "access:servers", "tokens"],
                },
            ],
        ),
    ]
    lines = [
        '"""The JupyterHub of an s3lab class: made by `s3lab classroom start --hub`."""',
        "c = get_config()  # noqa: F821",
        f"# {HTTPS_NOTE}",
    ]
    lines += [f"c.{key} = {value!r}" for key, value in values]
    return "\n".join(lines) + "\n"


def _wait_healthy(hub: Hub, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until the hub answers through its proxy, or say where its log is."""
    url = f"http://127.0.0.1:{hub.port}/hub/health"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SandboxError(
                f"JupyterHub exited at start (code {proc.returncode})",
                f"read its log, {log}, then run `s3lab classroom cleanup` and start again",
            )
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        if time.monotonic() > deadline:
            raise SandboxError(
                f"JupyterHub did not answer within {timeout:.0f} s",
                f"read its log, {log}, then run `s3lab classroom cleanup`",
            )
        time.sleep(0.3)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start(
    room: Any,
    *,
    admin: str,
    home: Path,
    port: int | None = None,
    notebooks: Path | None = None,
) -> Hub:
    """Make the users, copy the notebooks, then start JupyterHub for ``room``.

    ``home`` is the class's ``S3LAB_HOME``; the hub's files go in ``<home>/class/hub``. The
    learners' profiles are not installed here (``classroom.start_hub`` does, once the users
    exist). On any failure what was made is removed again.
    """
    require_root()
    python = learner_python()
    proxy()
    folder = home / "class"
    hub_dir(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    loopback = room.host == "127.0.0.1"
    port = port or ports.free_port()
    hub = Hub(
        url=f"http://{room.host}:{port}/",
        ip="127.0.0.1" if loopback else "0.0.0.0",
        port=port,
        admin=admin,
        api_token=secrets.token_hex(32),
    )
    sheet = ["# s3lab class: hand each learner their line (this file is readable only by root)"]
    try:
        for name in [*room.names(), admin]:
            if _exists(name):
                sheet.append(f"{name}  (their own Linux password)")
                continue
            password = make_user(name)
            hub.made_users.append(name)
            _save(hub, folder)
            sheet.append(f"{name}  {password}")
        awsfiles.write_private(hub_dir(folder) / "passwords.txt", "\n".join(sheet) + "\n")
        source = notebooks or ROOT / "notebooks"
        hub.copied = [n for n in room.names() if copy_notebooks(n, source)]
        proxy_api_port = ports.free_port({port})
        hub_port = ports.free_port({port, proxy_api_port})
        text = config(
            room, hub, python=python, home=home, proxy_api_port=proxy_api_port, hub_port=hub_port
        )
        awsfiles.write_private(hub_dir(folder) / "jupyterhub_config.py", text)
        log = hub_dir(folder) / "hub.log"
        with log.open("ab") as output:
            proc = processes.spawn(
                [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                output=output,
                cwd=hub_dir(folder),
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            )
        hub.process = processes.Identity(proc.pid).as_record()
        _save(hub, folder)
        _wait_healthy(hub, proc, log, timeout=90)
        hub.process = processes.settled(proc).as_record()
        hub.running = True
        _save(hub, folder)
    except BaseException:
        with contextlib.suppress(Exception):
            remove(folder, room.names())
        raise
    return hub


def leftovers(folder: Path, names: list[str]) -> list[str]:
    """What of the hub still runs: its own process, its proxy, any process of a learner's."""
    import psutil

    hub = load(folder)
    found: list[str] = []
    if hub and hub.process and processes.is_running(processes.Identity.from_record(hub.process)):
        found.append(f"jupyterhub (pid {hub.process['pid']})")
    where = str(hub_dir(folder))
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            line = " ".join(proc.info["cmdline"] or ())
            if where in line and proc.pid != (hub.process.get("pid") if hub else None):
                found.append(f"{line[:60]} (pid {proc.pid})")
    for proc in class_processes(names, hub.made_users if hub else names):
        with contextlib.suppress(psutil.Error):
            found.append(f"{proc.name()} of {proc.username()} (pid {proc.pid})")
    return found


def stop(folder: Path, names: list[str]) -> Hub | None:
    """Stop the hub: it stops the learners' servers and its proxy; any left are ended too."""
    hub = load(folder)
    if hub is None:
        return None
    if hub.process:
        processes.stop(processes.Identity.from_record(hub.process), grace=20)
    with contextlib.suppress(OSError, ValueError):
        record = processes.identify(int((hub_dir(folder) / "proxy.pid").read_text().strip()))
        if record and "configurable-http-proxy" in " ".join(record.cmdline):
            processes.stop(record)
    _end(class_processes([*names, hub.admin], hub.made_users))
    hub.running = False
    _save(hub, folder)
    return hub


def remove(folder: Path, names: list[str]) -> list[str]:
    """Stop the hub, then remove the users it made (their homes with them); return their names."""
    hub = stop(folder, names)
    if hub is None:
        return []
    failed: list[SandboxError] = []
    for name in hub.made_users:  # each one, even when another fails
        try:
            remove_user(name)
        except SandboxError as exc:
            failed.append(exc)
    if failed:
        raise failed[0]
    return hub.made_users


def api(hub: Hub, method: str, path: str, body: Any = None) -> Any:
    """Call the hub's REST API (``/hub/api/...``) with the s3lab service's token."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{hub.port}/hub/api/{path.lstrip('/')}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {hub.api_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None
