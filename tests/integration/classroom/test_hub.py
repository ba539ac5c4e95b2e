"""A class on a real JupyterHub, end to end, as the classroom guide's hub steps say.

The hub starts on 127.0.0.1 with three learners. Two log in through headless Chromium (PAM
passwords from the sheet), and chapter 10's cells run in each one's own server (their kernel,
their environment, their ``~/.aws``), all but its closing tidy-up cell. Then: each sees only
their own buckets, the instructor sees both on the admin page and the class console, a
learner is refused the console, ``classroom check first-bucket`` says done for the two and not
yet for the third, and after ``cleanup`` no learner, bucket or process of the class is left.
"""

from __future__ import annotations

import ast
import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from s3lab import backends, classroom, processes, sandbox, settings
from s3lab.classroom import hub
from s3lab.errors import UsageError
from s3lab.sandbox import servers
from tests.support import ROOT, cli, unavailable
from tests.support import hub as through_hub

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update"]  # fmt: skip
# Chapter 10's cells up to the exercise's check (not the tidy-up after it, which removes the
# exercise's bucket), then what the learner's own key lists, then the chapter's last cell, which
# removes its scratch folder (else each learner's is left in /tmp, after their user is gone).
CHAPTER = ROOT / "notebooks" / "10_first_bucket.ipynb"
CELLS = through_hub.code_cells_through(CHAPTER, 's3lab.check("first-bucket")')
SCRATCH = through_hub.code_cells(CHAPTER)[-1]
LISTS = (
    'import boto3; print(sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]))'
)
WAIT = 120_000  # ms: a server's first start on a busy 2-core machine


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian chromium, driven by playwright; skips (fails under CI) if it cannot."""
    if os.geteuid() != 0:
        unavailable("the hub test makes Linux users and a hub: it needs root", "the hub test")
    try:
        hub.proxy()
    except UsageError:
        unavailable("configurable-http-proxy is not in .hub/ (bash tasks.sh setup, as root)",
                    "the hub test")  # fmt: skip
    chromium = shutil.which("chromium")
    if chromium is None:
        unavailable("no chromium on PATH (bash tasks.sh setup installs Debian's)", "the hub test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def class_home(server: backends.Backend) -> Iterator[Path]:
    """The session's SeaweedFS; put back as every other test expects it, whatever happens."""
    home = settings.home()
    yield home
    if (classroom.class_dir(home) / "class.json").exists():
        with contextlib.suppress(Exception):
            classroom.cleanup(home)
    extra = sandbox.sandbox_dir(home) / servers.EXTRA_IDENTITIES
    if extra.exists() or classroom.class_dir(home).exists():
        with contextlib.suppress(Exception):
            hub.remove(classroom.class_dir(home), [])
        extra.unlink(missing_ok=True)
        shutil.rmtree(classroom.class_dir(home), ignore_errors=True)
        sandbox.stop("server", home=home)  # a restart forgets every class key
        sandbox.start("server", home=home)


def _log_in(browser: Any, served: hub.Hub, name: str, password: str, next_: str = "") -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{served.url}hub/login{next_}")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    return page


def test_a_class_on_a_real_hub(class_home: Path, browser: Any, tmp_path: Path) -> None:
    tag = secrets.token_hex(2)
    learners = [f"h{tag}a", f"h{tag}b", f"h{tag}c"]
    admin = f"h{tag}t"
    roster = tmp_path / "roster.txt"
    roster.write_text("\n".join(learners) + "\n")
    everyone = [*learners, admin]
    began = time.monotonic()

    def _took(what: str) -> None:  # where the minute goes, on the terminal (not asserted)
        print(f"hub test: {what} at {time.monotonic() - began:.0f} s", file=sys.stderr)

    try:
        started = cli("classroom", "start", "--roster", str(roster), "--hub", "--hub-admin", admin)
        assert started.returncode == 0, started.stderr
        where = hub.hub_dir(classroom.class_dir(class_home))
        served = hub.load(classroom.class_dir(class_home))
        assert served is not None and served.url.startswith("http://127.0.0.1:")
        sheet = (where / "passwords.txt").read_text().splitlines()
        passwords = dict(line.split() for line in sheet if not line.startswith("#"))
        assert set(passwords) == set(everyone) and set(served.made_users) == set(everyone)
        assert not [p for p in passwords.values() if p in started.stdout + started.stderr]
        assert "HTTPS is left to the host" in started.stderr
        _took("hub started")
        for name in learners:  # only their own profile, and the book
            home = Path(pwd.getpwnam(name).pw_dir)
            assert (home / ".aws" / "credentials").read_text().count("[") == 1
            assert (home / hub.NOTEBOOKS / "10_first_bucket.ipynb").exists()

        # a wrong password is refused; two learners log in through the browser, at once
        wrong = _log_in(browser, served, learners[0], "not-the-password")
        wrong.get_by_text("Invalid username or password").wait_for(timeout=WAIT)
        pages = {name: _log_in(browser, served, name, passwords[name]) for name in learners[:2]}
        for name, page in pages.items():
            page.wait_for_url(f"**/user/{name}/lab**", timeout=WAIT)
        _took("two learners logged in, their servers started")

        # chapter 10 in each one's own server, both at once; meanwhile, the browser's checks
        with ThreadPoolExecutor(max_workers=2) as pool:
            running = {
                n: pool.submit(through_hub.run_cells, served, n, [*CELLS, LISTS, SCRATCH])
                for n in pages
            }
            for page in pages.values():  # JupyterLab, open at the copied notebooks
                page.get_by_text("10_first_bucket.ipynb").first.wait_for(timeout=WAIT)
            refused = pages[learners[0]].goto(served.console_url)  # a learner: no console
            assert refused is not None and refused.status == 403
            admin_page = _log_in(browser, served, admin, passwords[admin], "?next=%2Fhub%2Fadmin")
            admin_page.wait_for_url("**/hub/admin**", timeout=WAIT)
            for name in learners:  # the hub's admin page lists the class
                admin_page.get_by_text(name).first.wait_for(timeout=WAIT)
            _took("JupyterLab in both, the admin page")
            ran = {n: future.result() for n, future in running.items()}
        _took("chapter 10 in both servers")
        for name, outputs in ran.items():
            assert f"{name}: first-bucket: done" in outputs[-3], outputs[-3]
            seen = ast.literal_eval(outputs[-2].strip())
            assert seen and all(b.startswith(f"{name}-") for b in seen), (name, seen)

        # the class console: status and checks for everyone
        console = admin_page.goto(served.console_url)
        assert console is not None and console.status == 200
        rows = admin_page.locator("#console tr")
        table = {r.split("\t")[0]: r.split("\t") for r in rows.all_inner_texts()}
        first = table["learner"].index("first-bucket")
        assert [table[n][first] for n in learners] == ["done", "done", "not yet"], table
        assert [table[n][1] for n in learners] == ["running", "running", "stopped"], table
        assert admin_page.locator("meta[http-equiv=refresh]").count() == 1

        # the instructor's command agrees
        checked = cli("classroom", "check", "first-bucket")
        assert "first-bucket: 2 of 3 learners done" in checked.stdout, checked.stdout
        states = [line.split()[1] for line in checked.stdout.splitlines()[:3]]
        assert states == ["done", "done", "not"], checked.stdout
        uids = [pwd.getpwnam(n).pw_uid for n in everyone]
        hub_process = processes.Identity.from_record(served.process)
        proxy_pid = int((where / "proxy.pid").read_text())
        folder = str(where)
        log = (where / "hub.log").read_text(errors="replace")  # no password, no token
        assert not [s for s in [*passwords.values(), served.api_token] if s in log]

        # stop: the hub, its proxy, the console and every learner's server end
        stopped = cli("classroom", "stop")
        assert "hub stopped" in stopped.stdout, stopped.stderr
        assert hub.leftovers(classroom.class_dir(class_home), everyone) == []
        _took("stopped")
    finally:
        cleaned = cli("classroom", "cleanup")
        for name in everyone:  # a failed start may leave a user behind: theirs is a fresh name
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    _took("cleaned up")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "removed the hub and the 4 Linux users it made" in cleaned.stdout
    for name in everyone:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    box = sandbox.running("server", class_home, thorough=False)
    assert box is not None
    public = sandbox.session().client("s3", endpoint_url=box.endpoint_url)
    left = [b["Name"] for b in public.list_buckets()["Buckets"]]
    assert not [b for b in left if b.startswith(f"h{tag}")], left
    assert not processes.is_running(hub_process) and processes.identify(proxy_pid) is None
    stray = [p.pid for p in psutil.process_iter(["uids", "cmdline"])
             if (p.info["uids"] and p.info["uids"].real in uids)
             or folder in " ".join(p.info["cmdline"] or ())]  # fmt: skip
    assert not stray, stray
