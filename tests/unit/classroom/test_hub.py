"""``s3lab classroom start --hub`` without a hub: its refusals, its config, the Kubernetes file.

The hub itself, with learners logging in through a browser, is tested end to end in
``tests/integration/classroom/test_hub.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from s3lab import classroom
from s3lab.classroom import console, hub
from tests.support import ROOT, assert_one_line_error, cli, unavailable

SCHEMA = ROOT.parent / "shared" / "vendor" / "z2jh-4.4.0-values.schema.yaml"
VALUES = ROOT / "book" / "z2jh-values.yaml"


def test_the_hub_needs_root_and_says_so_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub.os, "geteuid", lambda: 1000)
    result = cli("classroom", "start", "--learners", "2", "--hub")
    assert_one_line_error(result, "needs root", "sudo")
    assert not classroom.class_dir().exists()


def test_no_proxy_is_one_line_with_the_set_up_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hub.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hub, "PROXY", tmp_path / "none")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli("classroom", "start", "--learners", "2", "--hub")
    assert_one_line_error(result, "configurable-http-proxy", "bash tasks.sh setup")
    assert not classroom.class_dir().exists()


@pytest.mark.parametrize(
    ("admin", "words"), [("ada", ["'ada'", "also on the roster"]), ("Teacher", ["lowercase"])]
)
def test_a_bad_hub_admin_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, admin: str, words: list[str]
) -> None:
    monkeypatch.setattr(hub.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hub, "proxy", lambda: tmp_path)
    roster = tmp_path / "roster.txt"
    roster.write_text("ada\nbob\n")
    result = cli("classroom", "start", "--roster", str(roster), "--hub", "--hub-admin", admin)
    assert_one_line_error(result, *words)
    assert not classroom.class_dir().exists()


def test_the_config_is_literals_only_and_sets_what_the_guide_says(tmp_path: Path) -> None:
    room = classroom.Classroom("http://127.0.0.1:8333", "127.0.0.1", "2026-01-01", "AKIAI", "s",
                               [classroom.Learner("ada", "AKIAA", "sa")])  # fmt: skip
    served = hub.Hub("http://127.0.0.1:8000/", "127.0.0.1", 8000, "teacher", api_token="t" * 64)
    text = hub.config(room, served, python=Path("/usr/bin/python3"), home=tmp_path,
                      proxy_api_port=8001, hub_port=8002)  # fmt: skip
    values = {}
    for line in text.splitlines():
        if line.startswith("c."):
            key, _, value = line[2:].partition(" = ")
            values[key] = ast.literal_eval(value)  # a value, never code
    assert values["Spawner.environment"]["S3LAB_BACKEND"] == "class"
    assert values["Authenticator.allowed_users"] == {"ada"}
    assert values["Authenticator.admin_users"] == {"teacher"}
    assert values["JupyterHub.ip"] == "127.0.0.1" and values["JupyterHub.port"] == 8000
    assert values["Spawner.cmd"] == ["/usr/bin/python3", "-m", "jupyterhub.singleuser"]
    assert "HTTPS is left to the host" in text
    assert "AKIA" not in text and "sa" not in values["Spawner.environment"].values()


def test_the_console_page_shows_everyone_and_escapes_names() -> None:
    seats = [classroom.Seat("ada", 1, 2, 30, "2026-01-01T00:00:00+00:00"), classroom.Seat("bob")]
    done = {"ada": {"first-bucket": (True, "ok")}, "bob": {"first-bucket": (False, "<no>")}}
    page = console.render({"seats": seats, "done": done, "when": "10:00:00 UTC"},
                          {"ada": "running"})  # fmt: skip
    assert f'content="{console.REFRESH}"' in page and "first-bucket" in page
    assert "&lt;no&gt;" in page and "<no>" not in page
    assert ">running<" in page and "1 of 2" in page
    assert "AKIA" not in page


def _optional(schema: object) -> object:
    """The schema with no ``required``: it describes the chart's defaults merged with ours, and
    a values file gives only what it changes. Every key given must still be one the chart knows
    (``additionalProperties: false``), with the right type."""
    if isinstance(schema, dict):
        return {k: _optional(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_optional(v) for v in schema]
    return schema


def test_the_kubernetes_values_file_fits_the_charts_schema() -> None:
    """Zero to JupyterHub 4.4.0's values schema, vendored beside the clone (../shared/vendor)."""
    if not SCHEMA.exists():
        unavailable(f"the chart's schema is not beside the clone ({SCHEMA.name})",
                    "the Kubernetes values check")  # fmt: skip
    import jsonschema

    schema = _optional(yaml.safe_load(SCHEMA.read_text()))
    values = yaml.safe_load(VALUES.read_text())
    jsonschema.validate(values, schema)
    assert values["singleuser"]["extraEnv"]["S3LAB_BACKEND"] == "class"
    mount = values["singleuser"]["storage"]["extraVolumeMounts"][0]
    assert mount["mountPath"].endswith("/.aws") and mount["readOnly"]
    with pytest.raises(jsonschema.ValidationError):  # the schema does catch a typo
        jsonschema.validate({**values, "singleusr": {}}, schema)


def test_the_guide_runs_the_steps_the_hub_test_runs() -> None:
    guide = (ROOT / "book" / "classroom.md").read_text()
    for step in ("s3lab classroom start --roster roster.txt --hub --hub-admin teacher",
                 "s3lab classroom check first-bucket", "s3lab classroom cleanup",
                 "/hub/admin", "/services/classroom/", "passwords.txt", "HTTPS",
                 "z2jh-values.yaml"):  # fmt: skip
        assert step in guide, step
    assert VALUES.exists()
