"""Pages a reader can trust: a built page shows nothing of the machine that built it.

Scans every page of the built site (the session's one build: the ``site`` fixture of
tests/test_book.py) for absolute paths, scratch folder names, local ports, pids, user names in
listings, rclone's internal remote names, terminal colour codes and tracebacks.
"""

from __future__ import annotations

import html
import json
import re
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

# What gives the build machine away, each with the words a failure prints.
LEAKS = {
    "an absolute path on the build machine": re.compile(
        r"(?<![\w.:~/-])/(?:tmp|root|home|work|var/tmp)/[\w.@+-]+"
    ),
    # tempfile.mkdtemp's 8 random characters; a generated bucket name (-YYYYMMDD-xxxxxx) is fine
    "a scratch folder's random name": re.compile(
        r"\bs3lab-[a-z0-9]+-(?![0-9]{8})[a-z0-9_]{8}(?![\w-])"
    ),
    # port 9 (discard) is the chapters' deliberately dead endpoint, the same on every machine
    # JupyterLab's own 8888 is an instruction (the SSH tunnel), the same on every machine
    "a local port": re.compile(r"\b(?:127\.0\.0\.1|localhost):(?!(?:9|8888)\b)\d+"),
    "a process id": re.compile(r"\bpid[ =:]*\d+", re.IGNORECASE),
    "the build user in a listing": re.compile(r"\broot\s+root\b"),
    "rclone's internal remote name": re.compile(r":s3\{[\w-]+\}:"),
    "a terminal colour code": re.compile(r"\x1b\[|\[\d{1,3}(?:;\d{1,3})*m\b"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)|\bCell In\[\d+\]"),
}


def _machine_paths() -> list[str]:
    """This machine's own folders: the checkout, the environment, the temporary folder."""
    return [str(ROOT), sys.prefix, str(Path(sys.prefix).resolve()), tempfile.gettempdir() + "/"]


def leaks(text: str) -> list[str]:
    """What in ``text`` (a page's HTML) shows the build machine, one line per finding."""
    found = []
    if re.search(r'class="[^"]*\bansi-', text):
        found.append("a terminal colour code: ansi-* spans")
    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    for what, pattern in LEAKS.items():
        for match in pattern.finditer(plain):
            found.append(f"{what}: {match.group(0)!r}")
    for path in _machine_paths():
        if path in plain:
            found.append(f"this machine's folder: {path!r}")
    return sorted(set(found))


def _toc_pages() -> list[str]:
    """Every page of ``_toc.yml``, in reading order (the root first), without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())

    def walk(entries: list[dict]) -> list[str]:
        """A chapter, then its sections, depth first: the order the site's next links take."""
        found: list[str] = []
        for entry in entries:
            found += [entry["file"], *walk(entry.get("sections", []))]
        return found

    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += walk(part.get("chapters", []))
    return pages


# Pages whose build-machine details are not fixed yet: strict, so a fix shows up as a failure
# here until the page is taken off this list.
NOT_YET: dict[str, str] = {}


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[p]))
        if p in NOT_YET
        else p
        for p in _toc_pages()
    ],
)
def test_a_page_shows_nothing_of_the_build_machine(site: Path, page: str) -> None:
    built = site / f"{page}.html"
    assert built.exists(), f"{page} was not built"
    assert leaks(built.read_text()) == [], page


@pytest.mark.parametrize(
    "text",
    [
        "config-file    /tmp/s3lab-configure-baqcvwcn/config",
        "s3lab-mount-7_k8qbsp",
        "Backend('moto', http://127.0.0.1:37007)",
        "moto running (pid 2368)",
        "-rw-r--r-- 1 root root   28 Nov 25 04:13 hello.txt",
        ":s3{Giatt}:s3lab-mount-20261125-qxw7c7 1099511627776",
        '<span class="ansi-red-fg">gaierror</span>',
        "\x1b[31mgaierror\x1b[39m",
        "NameResolutionError                       Traceback (most recent call last)",
        "environment: /work/main/.venv",
    ],
)
def test_the_scan_finds_each_kind_of_leak(text: str) -> None:
    assert leaks(text), text


@pytest.mark.parametrize(
    "text",
    [
        "make_bucket: s3lab-first-20261125-abc123",
        "endpoint reachable: connect: 127.0.0.1:9: connection refused",
        "docker run -v ~/.aws:/root/.aws:ro",
        "http://127.0.0.1:PORT for the sandbox",
        "Backend('moto', local sandbox)",
        "/usr/local/bin is on your PATH",
    ],
)
def test_the_scan_passes_what_a_reader_should_see(text: str) -> None:
    assert leaks(text) == [], text


# --- navigation and time: read from the sources, which the pages are built from ------------------


def _source(page: str) -> str:
    """A page's prose: the markdown file, or a notebook's markdown cells."""
    path = ROOT / f"{page}.md"
    if path.exists():
        return path.read_text()
    notebook = json.loads((ROOT / f"{page}.ipynb").read_text())
    return "\n\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
    )


def _first_next_link(page: str) -> str:
    """The page the first link under "What to do next" leads to, as a toc entry."""
    text = _source(page)
    assert "## What to do next" in text, f"{page} does not end with what to do next"
    section = text[text.rindex("## What to do next") :]
    match = re.search(r"\]\(([^)#]+)", section)
    assert match, f"{page}: no link under 'What to do next'"
    target = (ROOT / page).parent / match[1]
    return str(target.resolve().relative_to(ROOT).with_suffix(""))


def test_each_page_leads_on_to_the_next_page_of_the_toc() -> None:
    pages = _toc_pages()
    wrong = {
        page: (_first_next_link(page), following)
        for page, following in zip(pages, [*pages[1:], pages[0]], strict=True)
        if _first_next_link(page) != following
    }
    assert wrong == {}, "page: (its first 'next' link, the toc's next page)"


def _minutes(page: str) -> int:
    """The minutes a page says it takes (its first number); 0 for "as long as you need"."""
    line = re.search(r"\*\*Time:\*\*([^\n]*)", _source(page))
    assert line, f"{page} does not say how long it takes (**Time:** ...)"
    number = re.search(r"(\d+) minutes", line[1])
    return int(number[1]) if number else 0


def test_the_intro_s_total_time_is_the_sum_of_the_pages_times() -> None:
    pages = _toc_pages()
    total = sum(_minutes(page) for page in pages[1:])
    stated = re.search(r"\*\*How long it takes:\*\*[^\n]*\((\d+) minutes\)", _source(pages[0]))
    assert stated, "the intro gives its total as '(N minutes)'"
    assert int(stated[1]) == total
