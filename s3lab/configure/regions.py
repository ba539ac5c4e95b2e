"""AWS regions from botocore's own data (no network), and "did you mean" for a typo.

A region typo (``uswest-2``) is the trap that costs learners the most: the only symptom is
"Could not connect to the endpoint URL". Checking the name against the regions botocore ships
with catches it before anything is written or sent, and offers the closest names. A region newer
than the installed botocore is accepted when it has a region's shape, with a note.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field

from s3lab.errors import UsageError


@dataclass(frozen=True)
class RegionData:
    """What botocore knows about regions: names, descriptions and each partition's pattern."""

    regions: tuple[str, ...]
    descriptions: dict[str, str]
    patterns: tuple[re.Pattern[str], ...]
    directions: frozenset[str]
    botocore_version: str


@functools.lru_cache(maxsize=1)
def region_data() -> RegionData:
    """Load regions from botocore's endpoints and partitions files (installed, offline).

    The pseudo-regions (``aws-global``, ``aws-cn-global``...) are not regions a person sets.
    """
    import botocore
    from botocore.loaders import create_loader

    from s3lab import clients

    # Offline data only: the learner's own config (maybe the broken file) plays no part.
    session = clients.botocore_session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    regions: list[str] = []
    for partition in session.get_available_partitions():
        regions += [
            r
            for r in session.get_available_regions("s3", partition_name=partition)
            if not r.endswith("-global")
        ]
    partitions = create_loader().load_data("partitions")["partitions"]
    descriptions = {}
    patterns = []
    for partition in partitions:
        patterns.append(re.compile(partition["regionRegex"]))
        for name, info in partition.get("regions", {}).items():
            if not name.endswith("-global"):
                descriptions[name] = info.get("description", "")
                if name not in regions:
                    regions.append(name)
    # The middle word of a region (us-WEST-2): a new region reuses one of these, a typo does not.
    directions = frozenset(r.split("-")[-2] for r in regions)
    return RegionData(
        tuple(sorted(regions)), descriptions, tuple(patterns), directions, botocore.__version__
    )


def suggest_regions(value: str, n: int = 3) -> list[str]:
    """Known regions close to ``value``: typos, an availability zone, or a city name."""
    data = region_data()
    text = value.strip().lower().replace("_", "-")
    text = re.sub(r"-[li|]$", "-1", re.sub(r"-o$", "-0", text))  # us-east-l: a letter for 1
    if text in data.regions:
        return [text]
    zone = re.fullmatch(r"(.+-\d+)[a-z]", text)  # us-west-2a is a zone of us-west-2
    if zone and zone.group(1) in data.regions:
        return [zone.group(1)]
    by_place = [r for r, d in data.descriptions.items() if len(text) > 3 and text in d.lower()]
    close = difflib.get_close_matches(text, data.regions, n=n, cutoff=0.6)
    return list(dict.fromkeys(by_place + close))[:n]


@dataclass
class RegionCheck:
    """The verdict on a region name: usable or not, with a note or a suggestion."""

    region: str
    ok: bool
    note: str = ""
    suggestions: list[str] = field(default_factory=list)


def check_region(value: str) -> RegionCheck:
    """Is ``value`` a region? Known to botocore, or shaped like a newer one.

    Known to botocore: yes. Matching a partition's pattern with a direction word that regions
    use (``ap-southeast-9``): yes, with a note, since botocore may just be older than the
    region. Anything else: no, with the closest regions.
    """
    data = region_data()
    if value in data.regions:
        return RegionCheck(value, True)
    parts = value.split("-")
    if (
        any(p.match(value) for p in data.patterns)
        and len(parts) >= 3
        and parts[-2] in data.directions
    ):
        note = (
            f"{value} is not in this botocore's list ({data.botocore_version}); accepted because "
            "it has the shape of a region. If it is new, update boto3 to know it by name"
        )
        return RegionCheck(value, True, note)
    return RegionCheck(value, False, suggestions=suggest_regions(value))


def require_region(value: str) -> str:
    """Return the region, or raise UsageError with "did you mean ...?"."""
    verdict = check_region(value)
    if verdict.ok:
        return value
    raise region_error(verdict)


def region_error(verdict: RegionCheck) -> UsageError:
    """The one-line error for a region that is not one, with the closest as the fix."""
    if verdict.suggestions:
        best = verdict.suggestions[0]
        others = ", ".join(verdict.suggestions[1:])
        hint = f"did you mean {best}?" + (f" (or {others})" if others else "")
        hint += f" Run: s3lab configure --region {best}"
    else:
        hint = "regions look like us-west-2 or eu-central-1: `aws ec2 describe-regions` lists them"
    return UsageError(f"{verdict.region!r} is not an AWS region", hint)
