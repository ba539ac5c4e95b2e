"""Pages a reader can trust: a built page shows nothing of the machine that built it.

Scans every page of the built site (the session's one build: the ``site`` fixture of
tests/integration/book/test_book.py) for absolute paths, scratch folder names, local ports, pids, user names in
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
    # /home/jovyan is every Zero to JupyterHub container's home, the same in every cluster
    "an absolute path on the build machine": re.compile(
        r"(?<![\w.:~/-])/(?:tmp|root|home(?!/jovyan\b)|work|var/tmp)/[\w.@+-]+"
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


# --- each page teaches like a lesson: questions, objectives, minutes, keypoints -----------------

#: Pages another change is still rewriting: strict, so adding what is missing fails here until
#: the page is taken off this list.
LESSON_NOT_YET: dict[str, str] = {}

TIME = re.compile(r"\*\*Time:\*\* (\d+) minutes: (\d+) teaching, (\d+) exercises")


def lesson_gaps(page: str) -> list[str]:
    """What a page lacks of a lesson's frame (empty when it has it all)."""
    text = _source(page)
    gaps = []
    head = text[: text.find("\n## ")] if "\n## " in text else text
    questions = re.search(r"\*\*Questions:\*\*\n\n((?:- .+\n)+)", head)
    if not questions:
        gaps.append("no **Questions:** list before its first section")
    elif not all(line.rstrip().endswith("?") for line in questions[1].splitlines()):
        gaps.append("a question that is not a question")
    if "**Objectives:**" not in head:
        gaps.append("no **Objectives:** before its first section")
    time = TIME.search(head)
    if not time:
        gaps.append("no '**Time:** N minutes: T teaching, E exercises'")
    elif int(time[1]) != int(time[2]) + int(time[3]):
        gaps.append(f"its minutes do not add up: {time[0]}")
    if "## Keypoints" not in text:
        gaps.append("no '## Keypoints' section")
    elif text.rindex("## Keypoints") > text.rindex("## What to do next"):
        gaps.append("keypoints after 'What to do next'")
    if time and (int(time[3]) > 0) != ("{exercise}" in text):
        gaps.append(f"{time[3]} exercise minutes, but {text.count('{exercise}')} exercises")
    return gaps


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=LESSON_NOT_YET[p]))
        if p in LESSON_NOT_YET
        else p
        for p in _toc_pages()[1:]
    ],
)
def test_each_page_opens_with_questions_objectives_and_time_and_ends_with_keypoints(
    page: str,
) -> None:
    assert lesson_gaps(page) == [], page


def test_a_page_without_its_frame_is_caught() -> None:
    """The check itself: a page with only a title and a next link has every gap."""
    text = "# Title\n\nSome prose.\n\n## What to do next\n\n[next](x.md)\n"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys.modules[__name__], "_source", lambda page: text)
        assert len(lesson_gaps("any")) == 4


def _schedule() -> dict[str, tuple[int, int]]:
    """The classroom guide's table: page (as a toc entry) -> (teaching, exercise) minutes."""
    guide = (ROOT / "book" / "classroom.md").read_text()
    rows = re.findall(r"^\| \[[^]]+\]\(([^)]+)\) \| (\d+) \| (\d+) \|", guide, re.MULTILINE)
    return {
        str((ROOT / "book" / link).resolve().relative_to(ROOT).with_suffix("")): (int(t), int(e))
        for link, t, e in rows
    }


def _minutes(page: str) -> tuple[int, int] | None:
    """A page's own (teaching, exercise) minutes, or None when it does not split them."""
    time = TIME.search(_source(page))
    return (int(time[2]), int(time[3])) if time else None


def test_every_page_says_the_minutes_the_schedule_shows() -> None:
    """The schedule lists every page of the book, with the minutes the page itself states."""
    schedule = _schedule()
    pages = _toc_pages()[1:]
    assert sorted(schedule) == sorted(pages), "the schedule's rows are the book's pages"
    differ = {
        page: (schedule[page], _minutes(page))
        for page in pages
        if page not in LESSON_NOT_YET and schedule[page] != _minutes(page)
    }
    assert differ == {}, "page: ((teaching, exercises) in the schedule, on the page)"


def test_the_intro_s_total_time_is_the_sum_of_the_schedule() -> None:
    total = sum(t + e for t, e in _schedule().values())
    stated = re.search(r"\*\*How long it takes:\*\*[^\n]*\((\d+) minutes\)", _source("book/intro"))
    assert stated, "the intro gives its total as '(N minutes)'"
    assert int(stated[1]) == total


def test_the_class_plans_add_up_to_the_schedule() -> None:
    """The half day and the full day name their chapters as links, and their minutes' sum."""
    guide = (ROOT / "book" / "classroom.md").read_text()
    schedule = _schedule()
    plans = re.findall(r"((?:\[[^]]+\]\([^)]+\)[,\s]*(?:and\s+)?)+)\((\d+) minutes", guide)
    assert len(plans) >= 2, "the half day and the full day, each with its (N minutes)"
    for links, minutes in plans:
        pages = [
            str((ROOT / "book" / link).resolve().relative_to(ROOT).with_suffix(""))
            for link in re.findall(r"\]\(([^)]+)\)", links)
        ]
        assert sum(sum(schedule[p]) for p in pages) == int(minutes), (pages, minutes)


# --- claims the pages make about the code and the chapters ----------------------------------


def _needs_system_packages(notebook: Path) -> bool:
    """A chapter that mounts a bucket (FUSE) or runs s3cmd needs packages set-up may lack."""
    code = "\n".join(
        "".join(c["source"])
        for c in json.loads(notebook.read_text())["cells"]
        if c["cell_type"] == "code"
    )
    return bool(re.search(r"s3lab mount |s3lab\.mount\(|mount\.mount\(|!s3cmd ", code))


def test_the_pages_name_the_chapters_that_need_system_packages() -> None:
    """The intro and the environment page say which chapters need FUSE or s3cmd: exactly
    those whose code mounts a bucket or runs s3cmd; the schedule marks the same ones."""
    needing = {
        f"notebooks/{nb.stem}"
        for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
        if _needs_system_packages(nb)
    }
    assert needing, "no chapter mounts a bucket: the scan is wrong"
    for page in ("book/intro", "book/environment"):
        text = _source(page)
        claim = re.search(r"Three chapters need them:(.*?)Every\s+other chapter", text, re.S)
        assert claim, f"{page}: no sentence naming the chapters that need system packages"
        named = {
            str((ROOT / "book" / link).resolve().relative_to(ROOT).with_suffix(""))
            for link in re.findall(r"\]\(([^)]+)\)", claim[1])
        }
        assert named == needing, page
    guide = (ROOT / "book" / "classroom.md").read_text()
    fuse = {
        str((ROOT / "book" / link).resolve().relative_to(ROOT).with_suffix(""))
        for link in re.findall(r"^\| \[[^]]+\]\(([^)]+\.ipynb)\) \| \d+ \| \d+ \| yes", guide, re.M)
    }
    assert fuse == needing, "the schedule's 'Needs FUSE' column"


def _named_in_prose() -> dict[str, set[str]]:
    """Every `s3lab.x.y` and `s3lab/....py` a page names in code spans, by page."""
    found: dict[str, set[str]] = {}
    for page in _toc_pages():
        text = _source(page)
        names = set(re.findall(r"`(s3lab(?:\.\w+)+)`", text))
        names |= set(re.findall(r"`(s3lab/[\w/]+\.py)`", text))
        found[page] = names
    return found


def test_every_module_name_and_file_a_page_names_exists() -> None:
    """`s3lab.buckets.PRICES` (gone) or `s3lab/cost.py` (moved) in prose fails here."""
    import importlib

    missing = []
    for page, names in _named_in_prose().items():
        for name in sorted(names):
            if "/" in name:
                if not (ROOT / name).is_file():
                    missing.append(f"{page}: {name}")
                continue
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    target: object = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                try:
                    for attribute in parts[cut:]:
                        target = getattr(target, attribute)
                except AttributeError:
                    missing.append(f"{page}: {name}")
                break
            else:
                missing.append(f"{page}: {name}")
    assert missing == []
    assert any(_named_in_prose().values()), "no page names a module: the scan is wrong"


NONSENSE = {
    "a speed-up below one ('0.9 times faster')": re.compile(r"\b0\.\d+ times (?:faster|slower)"),
    "a word left by a search and replace ('the s3lab')": re.compile(r"\bseen the s3lab\b"),
    "a bucket where a folder is meant": re.compile(r"note: created bucket\b"),
}


def test_no_page_or_stored_output_says_what_cannot_be_true() -> None:
    found = []
    for page in _toc_pages():
        path = ROOT / f"{page}.md"
        text = path.read_text() if path.exists() else (ROOT / f"{page}.ipynb").read_text()
        for what, pattern in NONSENSE.items():
            found += [f"{page}: {what}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert found == []


def test_each_part_ends_with_resources() -> None:
    """Every part of _toc.yml has a Resources list (with links) on one of its last two pages:
    the classroom guide, last of its part, is another change's, so costs.md carries them."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    missing = []
    for part in toc["parts"]:
        pages = [
            entry["file"]
            for chapter in part["chapters"]
            for entry in [chapter, *chapter.get("sections", [])]
        ]
        with_resources = [
            page
            for page in pages[-2:]
            if re.search(r"## Resources\n\n- \[[^]]+\]\(", _source(page))
        ]
        if not with_resources:
            missing.append(part["caption"])
    assert missing == [], "parts without Resources"


def test_instructor_notes_fold_away() -> None:
    """Instructor notes are collapsible admonitions, on the pages where a class stumbles."""
    noted = []
    for page in _toc_pages():
        for note in re.findall(
            r":::\{admonition\} Instructor note\n(:class: [^\n]*)", _source(page)
        ):
            assert "dropdown" in note, f"{page}: an instructor note that does not fold away"
            noted.append(page)
    assert len(set(noted)) >= 10, sorted(set(noted))


def test_no_built_page_shows_the_aws_cli_v1_banner(site: Path) -> None:
    """The book teaches the AWS CLI v2: an ``aws-cli/1.`` on a page means v1 ran, or is named."""
    shown = sorted(
        str(page.relative_to(site))
        for page in site.rglob("*.html")
        if "aws-cli/1." in page.read_text(errors="replace")
    )
    assert shown == []
