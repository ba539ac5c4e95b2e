"""Run a notebook's cells in a learner's own Jupyter server, through the hub.

What a learner does when they press Shift+Enter, without the clicks: a kernel is started in
their server (``/user/<name>/api/kernels``) and each cell's code is sent over the kernel's
websocket, as JupyterLab sends it. The token is the s3lab service's (``access:servers``); the
kernel runs as the learner, with their environment and their ``~/.aws``.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websocket

from s3lab.classroom import hub


def code_cells(notebook: Path) -> list[str]:
    """The code of each code cell, in order."""
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def code_cells_through(notebook: Path, last: str) -> list[str]:
    """The code cells up to the first whose whole code is ``last`` (an exercise's check)."""
    cells = code_cells(notebook)
    return cells[: cells.index(last) + 1]


def _call(served: hub.Hub, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{served.port}/{path.lstrip('/')}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {served.api_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def run_cells(served: hub.Hub, learner: str, cells: list[str], timeout: float = 120) -> list[str]:
    """Run ``cells`` in a new kernel of ``learner``'s server; return each cell's text output.

    A cell that raises fails the call with its traceback's last line.
    """
    kernel = _call(served, "POST", f"user/{learner}/api/kernels", {"name": "python3"})
    url = f"ws://127.0.0.1:{served.port}/user/{learner}/api/kernels/{kernel['id']}/channels"
    ws = websocket.create_connection(
        url, header=[f"Authorization: token {served.api_token}"], timeout=timeout
    )
    session = uuid.uuid4().hex
    outputs: list[str] = []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            ws.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "session": session,
                            "username": learner,
                            "msg_type": "execute_request",
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {
                            "code": code,
                            "silent": False,
                            "store_history": True,
                            "user_expressions": {},
                            "allow_stdin": False,
                            "stop_on_error": True,
                        },
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            text: list[str] = []
            while True:
                reply = json.loads(ws.recv())
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = reply["msg_type"], reply["content"]
                if kind == "stream":
                    text.append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    text.append(content["data"].get("text/plain", "") + "\n")
                elif kind == "error":
                    raise AssertionError(
                        f"{learner}'s cell failed: {content['ename']}: {content['evalue']}\n{code}"
                    )
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            outputs.append("".join(text))
    finally:
        ws.close()
        _call(served, "DELETE", f"user/{learner}/api/kernels/{kernel['id']}")
    return outputs


def start_server(served: hub.Hub, learner: str) -> None:
    """Ask the hub to start ``learner``'s server (what their first login does), and wait."""
    import time

    hub.api(served, "POST", f"users/{learner}/server")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        user = hub.api(served, "GET", f"users/{learner}")
        if (user.get("servers") or {}).get("", {}).get("ready"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{learner}'s server did not become ready")
