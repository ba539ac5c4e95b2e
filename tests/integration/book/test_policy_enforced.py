"""A policy with one thing taken out makes the book fail, on a server that enforces it, as AWS.

On SeaweedFS, where the role's key may do no more than the policy allows
(:func:`s3lab.sandbox.imds.seaweed_identity`). That the whole book passes as the role with the
policy itself, every request recorded and checked: test_policy.py. A module of its own, so that
two test workers run the two at once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from s3lab import notebooks
from s3lab.sandbox import imds
from tests.integration.book.test_policy import POLICY, check_requests, run_as_role


def _without(policy: dict[str, Any], sid: str, **changes: Any) -> dict[str, Any]:
    statements = [{**st, **changes} if st["Sid"] == sid else st for st in policy["Statement"]]
    return {**policy, "Statement": statements}


@pytest.mark.integration
@pytest.mark.parametrize(
    "taken_out",
    ["action s3:PutObject", "resource arn:aws:s3:::s3lab-*/*"],
)
def test_a_policy_with_one_thing_taken_out_fails_the_run(taken_out: str, tmp_path: Path) -> None:
    """As on AWS: the first chapter, run as a role that lacks one action or one resource."""
    policy = notebooks.book_policy()
    objects = next(st for st in policy["Statement"] if st["Sid"] == "ObjectsInTheBooksBuckets")
    if taken_out.startswith("action"):
        actions = [a for a in objects["Action"] if a != "s3:PutObject"]
        fewer = _without(policy, objects["Sid"], Action=actions)
    else:
        fewer = _without(policy, objects["Sid"], Resource=[])
    assert fewer != policy and imds.seaweed_actions(fewer) != imds.seaweed_actions(policy)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(notebooks.NOTEBOOKS / "10_first_bucket.ipynb", folder)
    done = run_as_role(fewer, tmp_path, folder)
    (result,) = done.results
    assert not result.ok and ("AccessDenied" in result.error or "refused" in result.error), result
    assert check_requests(fewer, [("s3:PutObject", "arn:aws:s3:::s3lab-a/b.txt")]) != []


def test_the_role_s_seaweedfs_identity_may_do_no_more_than_the_policy() -> None:
    """Admin (everything, bucket making included) only while every action of the book is in."""
    policy = json.loads(POLICY.read_text())
    scoped = ["Admin", "List", "Read", "Write", "Tagging"]
    assert imds.seaweed_actions(policy) == [f"{name}:s3lab-*" for name in scoped]
    for statement in policy["Statement"][1:]:
        for action in statement["Action"]:
            fewer = _without(
                policy, statement["Sid"], Action=[a for a in statement["Action"] if a != action]
            )
            assert "Admin:s3lab-*" not in imds.seaweed_actions(fewer), action
    other = _without(policy, "ObjectsInTheBooksBuckets", Resource="arn:aws:s3:::other-*/*")
    # objects elsewhere: no Admin, and no Read or Write (each also acts on the bucket)
    assert imds.seaweed_actions(other) == ["List:s3lab-*", "Tagging:s3lab-*"]
    everything = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert imds.seaweed_actions(everything) == scoped
