"""The site as it is published and as a reader sees it.

- Deployable: the workflow builds with the README's command and publishes ``_build/html``.
- One real address: none is written in the sources (no made-up host in them or in the built
  site); book/_ext/repository.py takes it from where the site is built (Actions' GITHUB_*,
  else the git remote), and the clone lines, repository, issues and launch buttons follow it,
  as a tiny book built three ways shows (from a repository, with no hub, with no remote).
- Links, checked offline in two ways. Sphinx's linkcheck builder: links to local files must
  exist, external links are listed (``linkcheck_ignore`` in ``_config.yml``), never fetched.
  And the built HTML, read with html.parser: every href/src to a page, file or ``#anchor`` of
  the site resolves (myst turns ``[text](page.md)`` into internal references, which linkcheck
  does not see; the ``-W`` build already fails on a missing one).
- In a real browser: Debian's headless chromium, driven by playwright, opens every page served
  on 127.0.0.1. No console error, no failed request to the site, outputs on every notebook
  page, exercise solutions that open and close. Requests to other hosts are blocked and listed.
  Artefacts (screenshots of every page, the lists) are in ``_build/site-check/``.
"""

from __future__ import annotations

import functools
import html as html_module
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

from tests.support import unavailable
from tests.support.site import JUPYTER_BOOK, ROOT, built_site, jupyter_book

ARTEFACTS = ROOT / "_build" / "site-check"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The brief's flags; playwright itself adds --headless and --user-data-dir (a fresh folder).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """A line on the terminal, shown even when output is captured."""
    with capsys.disabled():
        print(line)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_site(tmp_path_factory.getbasetemp())


# ---------------------------------------------------------------------------- deployable


def test_workflow_builds_with_the_readme_command_and_deploys_to_pages() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert runs == ["bash tasks.sh book"], runs
    assert "bash tasks.sh book" in (ROOT / "README.md").read_text()
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert "actions/deploy-pages" in uses


# Hosts a reader could copy and reach nothing (or someone else's repository): the old
# made-up address, the documentation domains of RFC 2606, and jupyter-book's own repository
# (its default when no address is given).
MADE_UP = re.compile(
    r"github\.com/s3lab/s3lab|(?<![\w.-])(?:[\w-]+\.)*example\.(?:org|com|net)\b"
    r"|executablebooks/jupyter-book",
    re.IGNORECASE,
)
# The published sources: what the site and the repository's front page are made from.
PUBLISHED = ["README.md", "_config.yml", "_toc.yml", ".github", "book", "notebooks"]


def _repository() -> Any:
    """book/_ext/repository.py, the extension the build loads, imported for its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("repository", ROOT / "book/_ext/repository.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def made_up_hosts(text: str) -> list[str]:
    """Every address in ``text`` that could only be made up."""
    return sorted({m.group(0) for m in MADE_UP.finditer(text)})


@pytest.mark.parametrize(
    "text",
    [
        "git clone https://github.com/s3lab/s3lab && cd s3lab",
        "jupyterhub_url: https://jupyterhub.example.org",
        '<a href="https://github.com/executablebooks/jupyter-book">',
        "aws s3 ls --endpoint-url https://s3.example.com",
    ],
)
def test_the_scan_finds_each_made_up_host(text: str) -> None:
    assert made_up_hosts(text), text


def test_no_published_source_names_a_made_up_host() -> None:
    """The address is never written: a source names no host that a reader could not reach."""
    found = {}
    for top in PUBLISHED:
        paths = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for path in paths:
            if path.is_file() and path.suffix in {".md", ".yml", ".yaml", ".ipynb", ".py"}:
                hosts = made_up_hosts(path.read_text(errors="replace"))
                if hosts:
                    found[str(path.relative_to(ROOT))] = hosts
    assert found == {}


def test_no_built_page_names_a_made_up_host(site: Path) -> None:
    found = {}
    for page in site.rglob("*.html"):
        hosts = made_up_hosts(page.read_text(errors="replace"))
        if hosts:
            found[str(page.relative_to(site))] = hosts
    assert found == {}


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("git@github.com:ada/s3lab.git", "https://github.com/ada/s3lab"),
        ("ssh://git@gitlab.com/uw/s3lab-class.git", "https://gitlab.com/uw/s3lab-class"),
        ("https://ada:ghp_secret@github.com/ada/s3lab.git\n", "https://github.com/ada/s3lab"),
        ("https://github.com/ada/s3lab", "https://github.com/ada/s3lab"),
        ("/work/main", None),
        ("file:///srv/git/s3lab.git", None),
        ("", None),
    ],
)
def test_a_git_remote_becomes_an_https_address_without_secrets(
    remote: str, address: str | None
) -> None:
    assert _repository().https_address(remote) == address


def test_the_address_comes_from_actions_then_from_the_remote(tmp_path: Path) -> None:
    """GITHUB_* first (the deploy workflow), then `origin`, then nothing at all."""
    repository = _repository()
    actions = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "uw-cs/s3lab"}
    assert repository.repository_url(tmp_path, actions) == "https://github.com/uw-cs/s3lab"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert repository.repository_url(tmp_path, {}) is None
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:ada/s3lab.git"],
        check=True,
    )
    assert repository.repository_url(tmp_path, {}) == "https://github.com/ada/s3lab"


def _tiny_book(tmp_path: Path, environ: dict[str, str], hub: str = "") -> Path:
    """A two-page jupyter-book that loads the book's own extension; built, its HTML folder.

    The book's _config.yml, cut down: the same repository and launch settings, a prose page
    with the clone line and a notebook (launch buttons are for notebooks), nothing executed.
    """
    book = tmp_path / "book"
    (book / "_ext").mkdir(parents=True)
    shutil.copy2(ROOT / "book" / "_ext" / "repository.py", book / "_ext")
    config = {
        "title": "tiny",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "sphinx": {"local_extensions": {"repository": "_ext"}},
        "repository": dict(CONFIG["repository"]),
        "html": dict(CONFIG["html"]),
        "launch_buttons": {**CONFIG["launch_buttons"], "jupyterhub_url": hub},
    }
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: nb\n")
    (book / "intro.md").write_text(
        "# Intro\n\n```bash\ngit clone <repository-url> s3lab && cd s3lab\n```\n"
    )
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# A notebook"), nbformat.v4.new_code_cell("1")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.write(notebook, book / "nb.ipynb")
    for name in ("GITHUB_REPOSITORY", "GITHUB_SERVER_URL", "JUPYTERHUB_URL"):
        environ.setdefault(name, "")
    done = subprocess.run(
        [str(JUPYTER_BOOK), "build", "-W", str(book)],
        capture_output=True,
        text=True,
        env={**os.environ, **environ},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return book / "_build" / "html"


def test_built_from_a_repository_the_clone_line_and_buttons_name_it(tmp_path: Path) -> None:
    url = "https://github.com/uw-cs/s3lab"
    html = _tiny_book(
        tmp_path,
        {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "uw-cs/s3lab"},
        hub="https://hub.uw.edu",
    )
    intro = (html / "intro.html").read_text()
    text = re.sub(r"<[^>]+>", "", intro)
    assert f"git clone {url} s3lab" in text and "&lt;repository-url&gt;" not in intro
    page = (html / "nb.html").read_text().replace("&amp;", "&")
    assert f'href="{url}"' in page and f"{url}/issues/new" in page
    assert "https://mybinder.org/v2/gh/uw-cs/s3lab/main?urlpath=lab/tree/nb.ipynb" in page
    assert f"https://hub.uw.edu/hub/user-redirect/git-pull?repo={url}&" in unquote(page)


def test_with_no_hub_named_there_is_no_jupyterhub_button(tmp_path: Path) -> None:
    html = _tiny_book(
        tmp_path, {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "uw-cs/s3lab"}
    )
    page = unquote((html / "nb.html").read_text())
    assert "mybinder.org/v2/gh/uw-cs/s3lab" in page and "git-pull" not in page


def test_built_with_no_remote_there_is_no_address_and_no_button(tmp_path: Path) -> None:
    """A copy without git: it still builds, names no repository and invents none."""
    html = _tiny_book(tmp_path, {})
    page = (html / "nb.html").read_text()
    intro = (html / "intro.html").read_text()
    assert "git clone &lt;repository-url&gt; s3lab" in re.sub(r"<[^>]+>", "", intro)
    for built in (page, intro):
        assert made_up_hosts(built) == []
        assert "mybinder.org" not in built and "git-pull" not in built
        assert "/issues/new" not in built and 'title="Source repository"' not in built


def test_the_site_names_the_repository_it_was_built_from(site: Path) -> None:
    """The book's own build: its clone lines and buttons, or none, as the checkout says."""
    url = _repository().repository_url(ROOT)
    intro = re.sub(r"<[^>]+>", "", (site / "book" / "intro.html").read_text())
    clones = re.findall(r"git clone (\S+) s3lab", html_module.unescape(intro))
    assert clones == [url or "<repository-url>"], clones
    launch = CONFIG["launch_buttons"]
    hub = os.environ.get("JUPYTERHUB_URL") or launch["jupyterhub_url"]
    for notebook in NOTEBOOKS:
        page = site / "notebooks" / f"{notebook.stem}.html"
        html = unquote(page.read_text().replace("&amp;", "&"))
        assert f"../_sources/notebooks/{notebook.name}" in html, f"{page.name}: no download"
        assert (site / "_sources" / "notebooks" / notebook.name).is_file()
        if url is None:
            assert "mybinder.org" not in html and "/issues/new" not in html, page.name
            continue
        owner_repo = urlsplit(url).path.strip("/")
        branch = CONFIG["repository"]["branch"]
        binder = f"{launch['binderhub_url']}/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/notebooks/{notebook.name}"
        assert binder in html, f"{page.name}: no Binder button"
        assert (f"/hub/user-redirect/git-pull?repo={url}&" in html) == bool(hub), page.name
        assert f'href="{url}"' in html and f"{url}/issues/new" in html, page.name


# ---------------------------------------------------------------------------- links


@pytest.fixture(scope="session")
def linkcheck(site: Path) -> list[dict[str, Any]]:
    """Sphinx's linkcheck on the same build folder (notebook outputs come from its cache)."""
    jupyter_book(site.parent.parent, "--builder", "linkcheck", log_name="linkcheck.log")
    # jupyter-book points the linkcheck builder at _build/html: keep the site as published.
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("output.json", "output.txt"):
        shutil.move(site / name, ARTEFACTS / f"linkcheck-{name}")
    lines = (ARTEFACTS / "linkcheck-output.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_linkcheck_finds_no_broken_link_and_fetches_no_external_one(
    linkcheck: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert linkcheck, "linkcheck saw no link at all"
    broken = [e for e in linkcheck if e["status"] == "broken"]
    assert not broken, broken
    external = sorted(
        {(e["uri"], e["filename"]) for e in linkcheck if re.match(r"https?://", e["uri"])}
    )
    fetched = [
        e for e in linkcheck if re.match(r"https?://", e["uri"]) and e["status"] != "ignored"
    ]
    assert not fetched, f"fetched, not just listed: {fetched}"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    listing = ARTEFACTS / "external-links.txt"
    listing.write_text("".join(f"{uri}\t{source}\n" for uri, source in external))
    report(capsys, f"\nlinkcheck: {len(external)} external links listed, not fetched: {listing}")


_REFS = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src"}


class _Links(HTMLParser):
    """The ids (anchors) of a page and the addresses it refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v for k, v in attrs if v is not None}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "name" in values:
            self.ids.add(values["name"])
        attr = _REFS.get(tag)
        if attr and values.get(attr):
            self.refs.append(values[attr])


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(errors="replace"))
    return parser


def _pages(site: Path) -> list[Path]:
    """Every page of the site (not the theme's HTML fragments in _static)."""
    return sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0][0] != "_")


def test_every_internal_link_and_anchor_resolves(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site.resolve()
    broken, external = [], set()
    for page in _pages(site):
        for ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme in {"http", "https"}:
                external.add(ref)  # another site: listed, not fetched
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {ref}"
            if not target.is_relative_to(site) or not target.is_file():
                broken.append(f"{where} (no such file)")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and unquote(parts.fragment) not in _parse(target).ids
            ):
                broken.append(f"{where} (no such anchor)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    listing = ARTEFACTS / "external-hrefs.txt"
    listing.write_text("".join(f"{ref}\n" for ref in sorted(external)))
    report(capsys, f"\nbuilt HTML: {len(external)} links to other sites listed: {listing}")
    assert not broken, "\n".join(broken)


# ---------------------------------------------------------------------------- browser


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def site_url(site: Path) -> Iterator[str]:
    """The built site served on 127.0.0.1, on a free port, for this session."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless chromium (Debian's) with a fresh profile, driven by playwright.

    Closed when this module is done: playwright's sync API runs an event loop while it is open,
    and another module's browser on the same test worker (the hub test's) cannot start inside it.
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        unavailable(
            "no chromium on PATH (bash tasks.sh setup installs Debian's, as root)",
            "the browser test",
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(
            "playwright is not installed (it is in the test extra of pyproject.toml)",
            "the browser test",
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _check_page(
    context: Any, origin: str, url: str, shot: Path, redirect: str | None = None
) -> dict[str, list[str]]:
    """Open one page (and the page it redirects to); what went wrong, requests to other hosts."""
    from playwright.sync_api import expect

    found: dict[str, list[str]] = {"problems": [], "external": []}
    page = context.new_page()

    def route(r: Any) -> None:
        if r.request.url.startswith(origin):
            r.continue_()
        else:
            found["external"].append(r.request.url)
            r.abort()

    def console(message: Any) -> None:
        source = message.location.get("url", "")
        if message.type == "error" and not (
            source in found["external"] and "net::ERR_FAILED" in message.text
        ):  # a request blocked here is listed, not an error of the site
            found["problems"].append(f"console error: {message.text} ({source})")

    def response(r: Any) -> None:
        if r.url.startswith(origin) and r.status >= 400:
            found["problems"].append(f"HTTP {r.status}: {r.url}")

    def failed(r: Any) -> None:
        if r.url.startswith(origin):
            found["problems"].append(f"{r.resource_type} failed: {r.url} ({r.failure})")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: found["problems"].append(f"page error: {error}"))
    page.on("response", response)
    page.on("requestfailed", failed)
    try:
        page.goto(url, wait_until="load")
        if redirect:  # index.html: wait for its refresh to land (reading the page meanwhile hung)
            page.wait_for_url(urljoin(url, redirect), wait_until="load")
        broken = page.evaluate(
            "Array.from(document.images).filter(i => i.complete && !i.naturalWidth).map(i => i.src)"
        )
        found["problems"] += [f"broken image: {src}" for src in broken]
        if "/notebooks/" in page.url:
            outputs = page.locator(".cell_output")
            if not outputs.count():
                found["problems"].append("a notebook page without outputs")
            empty = page.evaluate(
                "Array.from(document.querySelectorAll('.cell_output'))"
                ".filter(o => !o.innerText.trim() && !o.querySelector('img, svg')).length"
            )
            if empty:
                found["problems"].append(f"{empty} empty outputs")
        page.screenshot(path=str(shot), full_page=True)  # as a reader first sees it
        solutions = page.locator(".solution.dropdown")
        for n in range(solutions.count()):
            solution = solutions.nth(n)
            body = solution.locator(":scope > :not(.admonition-title)").first
            expect(body).to_be_hidden()
            solution.locator(".toggle-button").click()
            expect(body).to_be_visible()
            solution.screenshot(path=str(shot.with_name(f"{shot.stem}-solution-{n + 1}.png")))
            solution.locator(".toggle-button").click()
            expect(body).to_be_hidden()
            found.setdefault("solutions", []).append(f"solution {n + 1} opens and closes")
    except Exception as error:  # a timeout or a failed expectation: report it with the rest
        found["problems"].append(f"{type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        page.close()
    return found


def test_every_page_in_a_real_browser(
    site: Path, site_url: str, browser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = ARTEFACTS / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    results = {}
    for path in _pages(site):
        name = path.relative_to(site).as_posix()
        shot = shots / (name.replace("/", "__").removesuffix(".html") + ".png")
        refresh = re.search(
            r'http-equiv="refresh" content="\d+; *url=([^"]+)"', path.read_text(), re.I
        )
        redirect = refresh.group(1) if refresh else None
        results[name] = _check_page(browser, site_url, site_url + name, shot, redirect)
    (ARTEFACTS / "browser.json").write_text(json.dumps(results, indent=1))
    external = sorted({url for r in results.values() for url in r["external"]})
    (ARTEFACTS / "external-requests.txt").write_text("".join(f"{u}\n" for u in external))
    solutions = sum(len(r.get("solutions", [])) for r in results.values())
    report(
        capsys,
        f"\nbrowser: {len(results)} pages in chromium, {solutions} solutions toggled, "
        f"{len(external)} requests to other hosts blocked; screenshots in {shots}, "
        f"report in {ARTEFACTS / 'browser.json'}",
    )
    problems = {page: r["problems"] for page, r in results.items() if r["problems"]}
    assert not problems, json.dumps(problems, indent=1)
    notebook_pages = [p for p in results if p.startswith("notebooks/")]
    assert len(notebook_pages) == len(NOTEBOOKS), notebook_pages
    assert solutions >= 1, "no exercise solution was found to open and close"
