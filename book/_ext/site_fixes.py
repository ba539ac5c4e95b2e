"""Fixes for the built site, found by the browser test (tests/test_site.py).

Loaded by ``_config.yml`` (``sphinx.local_extensions``).

Sphinx before 8.2 lists a script that has a body and no file, added once the HTML builder has
started, twice on every page (sphinx-doc/sphinx#13402, fixed there). sphinx-thebe adds
``const THEBE_JS_URL = ...`` that way, so every page of the book failed in the browser with
"Identifier 'THEBE_JS_URL' has already been declared". This drops the second copy of any
script, as Sphinx 8.2 does.
"""

from __future__ import annotations

from typing import Any


def _drop_repeated_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", None) or "", repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's own list: it restores it after each page


def setup(app: Any) -> dict[str, Any]:
    """Run after the other extensions have added their scripts to the page."""
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
