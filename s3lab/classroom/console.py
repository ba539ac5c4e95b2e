"""The class console: a JupyterHub service showing ``classroom status`` and ``check`` for all.

The hub starts it (``python -m s3lab.classroom.console``) and serves it at
``/services/classroom/``. JupyterHub's own OAuth lets in only who holds
``access:services!service=classroom``: the hub's admins, that is the instructor, never a
learner. The page refreshes itself every :data:`REFRESH` seconds; what it shows is computed at
most once per refresh, however many tabs are open, so the S3 server sees one instructor.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import html
import logging
import os
import secrets
import time
import urllib.parse
from typing import Any

from s3lab import buckets, checks

logger = logging.getLogger(__name__)
REFRESH = 15  # seconds between the page's own reloads


def exercises() -> list[str]:
    """The exercises a classroom can check (not those about a learner's own files)."""
    return [name for name, found in checks.EXERCISES.items() if not found.local]


def snapshot() -> dict[str, Any]:
    """Everything the page shows: per learner their status and each exercise's check."""
    from s3lab import classroom

    seats = classroom.status()
    done: dict[str, dict[str, tuple[bool, str]]] = {seat.learner: {} for seat in seats}
    for exercise in exercises():
        for found in classroom.check(exercise):
            done.setdefault(found.learner or "", {})[exercise] = (found.done, found.message)
    when = _dt.datetime.now(_dt.UTC).strftime("%H:%M:%S UTC")
    return {"seats": seats, "done": done, "when": when}


def render(view: dict[str, Any], servers: dict[str, str]) -> str:
    """The page: a status table and a check table, one row per learner."""
    names = exercises()
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for seat in view["seats"]:
        checked = view["done"].get(seat.learner, {})
        cells = "".join(
            f'<td class="{"done" if ok else "todo"}" title="{html.escape(msg)}">'
            f"{'done' if ok else 'not yet'}</td>"
            for ok, msg in (checked.get(n, (False, "")) for n in names)
        )
        rows.append(
            f"<tr><td>{html.escape(seat.learner)}</td>"
            f"<td>{html.escape(servers.get(seat.learner, '-'))}</td>"
            f"<td>{seat.buckets}</td><td>{seat.objects}</td>"
            f"<td>{html.escape(buckets.human_size(seat.bytes))}</td>"
            f"<td>{html.escape(seat.last_activity or '-')}</td>{cells}</tr>"
        )
    finished = {
        n: sum(view["done"].get(seat.learner, {}).get(n, (False,))[0] for seat in view["seats"])
        for n in names
    }
    totals = "".join(f"<td>{finished[n]} of {len(view['seats'])}</td>" for n in names)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH}">
<title>s3lab class console</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }}
td.done {{ background: #d7f5dd; }} td.todo {{ background: #fbe3e3; }}
</style></head><body>
<h1>Class console</h1>
<p>Updated <span id="updated">{view["when"]}</span>; this page reloads every {REFRESH} s.
The hub's own <a href="../../hub/admin">admin page</a> starts and stops servers.</p>
<table id="console">
<tr><th>learner</th><th>server</th><th>buckets</th><th>objects</th><th>bytes</th>
<th>last activity</th>{head}</tr>
{"".join(rows)}
<tr><td>done</td><td></td><td></td><td></td><td></td><td></td>{totals}</tr>
</table></body></html>
"""


def _servers(token: str, api_url: str) -> dict[str, str]:
    """Each learner's server, "running" or "stopped": the hub's API, with the service's token."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{api_url}/users", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            users = json.loads(answer.read())
    except OSError as exc:
        logger.warning("the hub's API did not answer: %s", exc)
        return {}
    return {u["name"]: "running" if u.get("servers", {}).get("") else "stopped" for u in users}


def make_app() -> Any:
    """The tornado application, with JupyterHub's OAuth in front of the page."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from tornado import web

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{CONSOLE_NAME}/")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    api_url = os.environ.get("JUPYTERHUB_API_URL", "")
    cache: dict[str, Any] = {}

    class Page(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]  # jupyterhub: no types
        @web.authenticated
        async def get(self) -> None:
            if time.monotonic() - cache.get("at", -1e9) >= REFRESH:
                cache["view"] = await asyncio.to_thread(snapshot)
                cache["servers"] = await asyncio.to_thread(_servers, token, api_url)
                cache["at"] = time.monotonic()
            self.set_header("Cache-Control", "no-store")
            self.write(render(cache["view"], cache["servers"]))

    return web.Application(
        [
            (prefix, Page),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
        ],
        cookie_secret=secrets.token_bytes(32),
    )


CONSOLE_NAME = "classroom"


def main() -> None:
    """Serve the console where the hub says (``JUPYTERHUB_SERVICE_URL``)."""
    from tornado import ioloop

    logging.basicConfig(level=logging.INFO)
    where = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app().listen(where.port or 80, where.hostname or "127.0.0.1")
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
