"""What storage costs: S3 prices as data, a bucket's monthly estimate, and the 9 EB sum.

The prices live in one place, :data:`PRICES`, with where they came from, so a reader can check
them and a maintainer can update them. :func:`fill_cost` is the one place that turns a size into
money at a flat price: the ``s3lab bucket cost`` page and the mount chapters (what filling the
size ``df`` shows would cost) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3lab.buckets import bucket_region, human_size, usage
from s3lab.mount.semantics import MOUNTPOINT_DF_BLOCKS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 Standard storage prices, USD per GB-month, by tier. Kept as data in one place, with where
#: the numbers came from, so a reader can check them and a maintainer can update them.
PRICES: dict[str, Any] = {
    "source": (
        "From memory, NOT verified against AWS's pricing page (its tables did not render when "
        "this was written). Check them at https://aws.amazon.com/s3/pricing/ or with the AWS "
        "Price List API before relying on them."
    ),
    "date": "2026-11-25",
    "unit": "USD per GB-month, S3 Standard (1 GB = 10^9 bytes here)",
    # (tier size in GB or None for "the rest", price per GB-month)
    "tiers": {
        "us-west-2": [(50_000, 0.023), (450_000, 0.022), (None, 0.021)],
        "us-east-1": [(50_000, 0.023), (450_000, 0.022), (None, 0.021)],
        "us-east-2": [(50_000, 0.023), (450_000, 0.022), (None, 0.021)],
    },
    "default_region": "us-west-2",
    # S3 Standard requests, USD per 1,000 (PUT, COPY, POST, LIST; GET and the rest), same caveat
    "usd_per_1000_requests": {"put": 0.005, "get": 0.0004},
}

#: The seed page's flat price: $23 per TB-month (S3 Standard's first tier, TB = 10**12 bytes).
FLAT_USD_PER_TB_MONTH = 23.0

#: What ``df`` reports for a Mountpoint folder, in bytes: 2**53 blocks of 1 KiB (2**63 bytes).
MOUNTPOINT_DF_BYTES = MOUNTPOINT_DF_BLOCKS * 1024


def monthly_cost(size_bytes: float, region: str | None = None) -> tuple[float, str]:
    """Estimated S3 Standard storage cost per month for ``size_bytes``, and the region priced.

    A region missing from :data:`PRICES` is priced as the default region (the second value
    says which region's prices were used).
    """
    priced = str(region if region in PRICES["tiers"] else PRICES["default_region"])
    remaining = size_bytes / 1e9
    total = 0.0
    for size, price in PRICES["tiers"][priced]:
        part = remaining if size is None else min(remaining, size)
        total += part * price
        remaining -= part
        if remaining <= 0:
            break
    return total, priced


def flat_cost(size_bytes: float, per_tb_month: float = FLAT_USD_PER_TB_MONTH) -> float:
    """Cost per month at one flat price per TB-month (the seed's $23), no tiers."""
    return size_bytes / 1e12 * per_tb_month


def fill_cost(kib_blocks: int, usd_per_tb_month: float = FLAT_USD_PER_TB_MONTH) -> dict[str, float]:
    """What filling a folder of ``kib_blocks`` 1K-blocks (``df``'s size) would cost in S3.

    ``df`` shows an absurd size for a mounted bucket because S3 has no size limit; a price turns
    the number into something a person can feel (TB = 10**12 bytes, a flat price per TB-month).
    """
    size = kib_blocks * 1024
    per_month = flat_cost(size, usd_per_tb_month)
    return {"terabytes": size / 1e12, "usd_per_month": per_month, "usd_per_year": per_month * 12}


def seed_arithmetic() -> list[str]:
    """The seed's sum, done by code: what filling Mountpoint's 9 EB would cost a year.

    ``df`` shows 2^63 bytes (about 9.2 EB). At a flat $23 per TB-month that is about
    $2.5 billion a year; the page's "about $276 million a year" is the price of 1 EB.
    """
    size = MOUNTPOINT_DF_BYTES
    flat = fill_cost(MOUNTPOINT_DF_BLOCKS)
    tiered_month, priced = monthly_cost(size)
    one_eb_year = flat_cost(1e18) * 12
    return [
        f"df size:          {size:,} bytes = {size / 1e18:.2f} EB",
        f"at $23/TB-month:  ${flat['usd_per_month']:,.0f} a month, "
        f"${flat['usd_per_year']:,.0f} a year",
        f"tiered ({priced}): ${tiered_month:,.0f} a month, ${tiered_month * 12:,.0f} a year",
        f"1 EB for a year:  ${one_eb_year:,.0f} (the page's 'about $276 million')",
    ]


@dataclass
class CostReport:
    """Size, object count and the estimated monthly cost of one bucket (or of all of them)."""

    name: str
    objects: int
    bytes: int
    region: str
    priced_region: str
    monthly: float

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        return [
            f"bucket:   {self.name}",
            f"objects:  {self.objects}",
            f"size:     {human_size(self.bytes)} ({self.bytes} bytes)",
            f"region:   {self.region} (priced as {self.priced_region})",
            f"estimate: ${self.monthly:,.6f} a month, ${self.monthly * 12:,.4f} a year",
        ]


def bucket_cost(client: S3Client, bucket: str) -> CostReport:
    """Count what ``bucket`` holds and price it per month."""
    region = bucket_region(client, bucket)
    held = usage(client, bucket)
    monthly, priced = monthly_cost(held.bytes, region)
    return CostReport(bucket, held.objects, held.bytes, region, priced, monthly)
