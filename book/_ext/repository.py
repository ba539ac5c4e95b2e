"""The repository's address, taken from where the site is built, never written in the sources.

Loaded by ``_config.yml`` (``sphinx.local_extensions``). A fork or a mirror that publishes the
book gets its own clone line and buttons, with nothing to edit:

- on GitHub Actions, the deploy workflow knows its repository (``GITHUB_SERVER_URL`` and
  ``GITHUB_REPOSITORY``, which Actions sets in every job);
- elsewhere, the git remote ``origin`` of the checkout, made an ``https://`` address (an ssh
  remote is rewritten, a user name or token in it is dropped);
- with neither (a copy with no remote), no address at all: no repository, issues or launch
  buttons, and the clone lines keep their placeholder. The build still works.

The pages write the clone line as ``git clone <repository-url> s3lab``; :func:`fill_in`
replaces the placeholder in every page's code and text when an address is known. The
JupyterHub (nbgitpuller) button appears only when a hub is named: ``launch_buttons:
jupyterhub_url`` in ``_config.yml``, or ``JUPYTERHUB_URL`` in the build's environment (the
workflow passes the repository variable of that name).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from docutils import nodes

#: What the sources write where the repository's address goes.
PLACEHOLDER = "<repository-url>"

#: Hosts sphinx-book-theme knows how to make buttons for (it refuses any other).
PROVIDERS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}

_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!/)[^\s]+)$")  # git@host:o/r


def https_address(remote: str) -> str | None:
    """The ``https://host/owner/repo`` address of a git remote URL, or None for a local path.

    ``git@github.com:o/r.git`` and ``ssh://git@github.com/o/r`` become
    ``https://github.com/o/r``; a user name or token in an https remote is dropped, so no
    secret reaches a page.
    """
    remote = remote.strip()
    scp = _SCP_LIKE.match(remote)
    if scp and "://" not in remote:
        host, path = scp["host"], scp["path"]
    else:
        parts = urlsplit(remote)
        if parts.scheme not in {"http", "https", "ssh", "git"} or not parts.hostname:
            return None  # a folder on this machine, or file://: no address a reader can use
        host, path = parts.hostname, parts.path
    path = path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        return None
    return f"https://{host}/{path}"


def repository_url(root: Path, environ: dict[str, str] | None = None) -> str | None:
    """The address of the repository the site is built from, or None when nothing says."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server.rstrip('/')}/{environ['GITHUB_REPOSITORY'].strip('/')}"
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git on this machine: no address
    return https_address(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def _configure(app: Any, config: Any) -> None:
    """Put the address (or its absence) into the theme's options, before the theme reads them."""
    options = config.html_theme_options
    url = repository_url(Path(app.srcdir), None)
    config.s3lab_repository_url = url or ""
    launch = dict(options.get("launch_buttons") or {})
    hub = os.environ.get("JUPYTERHUB_URL") or launch.get("jupyterhub_url") or ""
    provider = PROVIDERS.get(urlsplit(url).hostname or "") if url else None
    if url and provider:
        options["repository_url"] = url
        options["repository_provider"] = provider
        options["use_repository_button"] = True
        options["use_issues_button"] = provider == "github"
        launch["jupyterhub_url"] = hub
        options["launch_buttons"] = launch
    else:
        # Not jupyter-book's default address (its own repository): no address, no buttons.
        options.pop("repository_url", None)
        options["use_repository_button"] = False
        options["use_issues_button"] = False
        options["use_edit_page_button"] = False
        options["launch_buttons"] = {
            k: v for k, v in launch.items() if k not in {"binderhub_url", "jupyterhub_url"}
        }


def fill_in(app: Any, doctree: nodes.document, docname: str) -> None:
    """Replace the placeholder with the address in the page's code blocks and text."""
    url = app.config.s3lab_repository_url
    if not url:
        return
    for node in list(doctree.findall(nodes.Text)):
        if PLACEHOLDER in node:
            node.parent.replace(node, nodes.Text(str(node).replace(PLACEHOLDER, url)))
    for block in doctree.findall(nodes.literal_block):
        # Sphinx highlights a block only when its rawsource is its text: keep them equal
        block.rawsource = block.rawsource.replace(PLACEHOLDER, url)


def setup(app: Any) -> dict[str, Any]:
    """Early at config-inited (before sphinx-book-theme's own handlers), and at every write."""
    app.add_config_value("s3lab_repository_url", "", "html")
    app.connect("config-inited", _configure, priority=100)
    app.connect("doctree-resolved", fill_in)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
