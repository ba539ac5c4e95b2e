"""Which machinery runs a copy: the AWS Common Runtime's C client, or boto3's classic one.

The CRT spends a fraction of Python's CPU per request, which is what limits copying many small
files; boto3 would use it only on AWS's own endpoints, so the client's endpoint, region,
addressing style and credentials are handed to s3transfer's CRT pieces here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import settings
from s3lab.buckets import WORKERS
from s3lab.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Files larger than this go up and down in parts, in parallel (and a failed part is retried
#: alone). 8 MiB is also the aws command's default.
MULTIPART_THRESHOLD = 8 * 1024 * 1024

#: The CRT's throughput target (bytes/s) for a server on this machine. The target sets how many
#: connections it opens: its default, 10 Gbps, means about 25, which pays over a network's
#: latency, but a server on loopback shares this machine's cores with the client, and there
#: 25 connections cost the server more than they bring. Measured on 2 cores against SeaweedFS
#: (1 GiB, two rounds, bench/run.py's method): 10 Gbps put 12.3 s and 9.4 s, get 6.1 s and
#: 5.4 s; 2 Gbps put 8.4 s and 9.1 s, get 5.0 s and 5.0 s. Other endpoints keep the default.
LOCAL_TARGET_THROUGHPUT = 2e9 / 8


#: A download's part size: None lets the CRT choose, as the AWS CLI v2 does. Measured on 2 cores
#: against SeaweedFS (1 GiB, rounds alternating with the v2's CRT client, a sync before each):
#: 8 MiB parts took 3.50 s (median of 4), the CRT's own 3.05 s, the v2 4.23 s. Uploads keep
#: the 8 MiB parts the put row was measured with (:data:`LOCAL_TARGET_THROUGHPUT`).
DOWNLOAD_PART_SIZE: int | None = None


#: Where Linux lists a VM's virtio devices; the balloon's id, and the feature bit that says it
#: hands the memory the VM frees back to the host (VIRTIO_BALLOON_F_REPORTING).
VIRTIO_DEVICES = Path("/sys/bus/virtio/devices")
VIRTIO_BALLOON = "0x0005"
FREE_PAGE_REPORTING_BIT = 5


def page_cache_is_slow(devices: Path = VIRTIO_DEVICES) -> bool:
    """True on a VM that hands the memory it frees back to its host (free page reporting).

    There, a page the host has taken back costs a fault on the host when the VM uses it again,
    and a download's file fills that many new pages of page cache: writing 1 GiB through the
    cache took 3.0-3.7 s on the machine of the speed page, past it (``O_DIRECT``) 0.65 s, and
    a 1 GiB get 2.9-3.6 s against 1.04-1.07 s. Elsewhere the page cache is the faster way (a
    slow disk waits behind it), so s3lab writes past it only here. Crostini, Firecracker and
    other small VMs report free pages; reading these files needs no root.
    """
    try:
        for device in devices.iterdir():
            if (device / "device").read_text().strip() != VIRTIO_BALLOON:
                continue
            features = (device / "features").read_text().strip()
            bound = (device / "driver").exists()  # no driver, nothing is reported
            if bound and features[FREE_PAGE_REPORTING_BIT : FREE_PAGE_REPORTING_BIT + 1] == "1":
                return True
    except OSError:  # no /sys (not Linux), or a device that went away while looking
        return False
    return False


def direct_io(choice: str | None = None) -> bool:
    """Whether downloads write past the page cache: ``S3LAB_DIRECT_IO`` (or ``choice``) decides.

    ``auto`` means :func:`page_cache_is_slow`. The CRT's direct writes are best-effort: a part
    whose length is not a multiple of the page, or a file system that refuses ``O_DIRECT``, is
    written through the cache instead, so the file is the same either way.
    """
    choice = choice or settings.read().direct_io
    return page_cache_is_slow() if choice == "auto" else choice == "on"


def target_throughput(endpoint: str) -> float | None:
    """:data:`LOCAL_TARGET_THROUGHPUT` for a loopback endpoint, else None (the CRT's own)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(endpoint).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        local = False
    return LOCAL_TARGET_THROUGHPUT if local else None


def transfer_manager(client: S3Client, *, engine: str = "auto", direction: str = "up") -> Any:
    """A transfer manager for ``client``: the CRT one when possible, else boto3's classic one.

    ``engine`` is ``auto`` (CRT if installed), ``crt`` or ``classic``; ``direction`` (``up`` or
    ``down``) picks the CRT's part size (see :data:`DOWNLOAD_PART_SIZE`).

    Raises:
        UsageError: ``engine`` is unknown, or ``crt`` is asked for and missing.
    """
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    if engine not in ("auto", "crt", "classic"):
        raise UsageError(f"unknown engine {engine!r}", "use auto, crt or classic")
    if engine != "classic":
        manager = _crt_manager(client, direction)
        if manager is not None:
            return manager
        if engine == "crt":
            raise UsageError("the CRT engine is not available", "pip install 'boto3[crt]'")
    config = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_THRESHOLD,
        max_concurrency=WORKERS,
        preferred_transfer_client="classic",
    )
    return create_transfer_manager(client, config)


def _crt_manager(client: S3Client, direction: str = "up") -> Any | None:
    """boto3's transfer manager on the AWS Common Runtime, or None when it cannot be used.

    boto3 only uses the CRT on AWS's own endpoints (it drops ``endpoint_url``), so the client's
    endpoint, region, addressing style and credentials are handed to s3transfer's CRT pieces
    here. Anything unusual (no credentials, no awscrt) falls back to the classic manager.
    """
    try:
        import botocore.session
        from botocore.config import Config
        from s3transfer.crt import (
            BotocoreCRTCredentialsWrapper,
            BotocoreCRTRequestSerializer,
            CRTTransferManager,
            create_s3_crt_client,
        )
    except ImportError:
        return None
    config = client.meta.config
    # The same private call boto3's own CRT support makes (no stub declares it).
    credentials = client._get_credentials()  # type: ignore[attr-defined]
    if credentials is None:
        return None
    endpoint = client.meta.endpoint_url
    region = client.meta.region_name or "us-east-1"
    wrapper = BotocoreCRTCredentialsWrapper(credentials)
    crt_client = create_s3_crt_client(
        region,
        wrapper.to_crt_credentials_provider(),
        # None reaches awscrt's S3Client, whose own default it is (the stub says int only)
        part_size=MULTIPART_THRESHOLD if direction == "up" else DOWNLOAD_PART_SIZE,  # type: ignore[arg-type]
        use_ssl=not endpoint.startswith("http://"),
        target_throughput=target_throughput(endpoint),
    )
    addressing = (config.s3 or {}).get("addressing_style")  # type: ignore[attr-defined]
    # The client has read the AWS files already (or, on a sandbox, ignored them): the serializer
    # gets what it needs from the client, and reads no file (a learner's broken ~/.aws/config
    # must not break a sandbox upload).
    nowhere, nobody = (None, None, os.devnull, None), (None, None, None, None)  # nor AWS_PROFILE
    files = {"config_file": nowhere, "credentials_file": nowhere, "profile": nobody}
    session = botocore.session.Session(session_vars=files)
    # Reuse the client's loader: its S3 model is parsed already (saves a tenth of a second).
    session.register_component("data_loader", client._loader)  # type: ignore[attr-defined]
    keep = ("request_checksum_calculation", "response_checksum_validation")  # Ceph needs them
    checksums = {name: getattr(config, name) for name in keep if getattr(config, name, None)}
    serializer = BotocoreCRTRequestSerializer(
        session,
        {
            "region_name": region,
            "endpoint_url": endpoint,
            "config": Config(
                s3={"addressing_style": addressing} if addressing else None, **checksums
            ),
        },
    )
    manager: Any = CRTTransferManager(crt_client, serializer)  # (the stub has no privates)
    upload_checksums = getattr(config, "request_checksum_calculation", None) != "when_required"
    write_past_cache = direction == "down" and direct_io() and _crt_has_direct_io()
    if not upload_checksums or write_past_cache:
        manager._s3_args_creator = _request_builder(
            serializer, manager._osutil, upload_checksums=upload_checksums, direct=write_past_cache
        )
    return manager


def _crt_has_direct_io() -> bool:
    """Whether this awscrt can write a download past the page cache (0.29 and later can)."""
    from awscrt.s3 import S3FileIoOptions

    return "direct_io" in getattr(S3FileIoOptions, "__dataclass_fields__", {})


def _request_builder(serializer: Any, osutil: Any, *, upload_checksums: bool, direct: bool) -> Any:
    """s3transfer's CRT request builder, with or without two things it has no setting for.

    ``upload_checksums=False``: no checksum trailer on uploads. s3transfer's CRT path (as the
    AWS CLI v2's) asks the CRT for a CRC trailer (``aws-chunked`` encoding) on every upload,
    whatever ``request_checksum_calculation`` says. Ceph 16, the gateway of the ceph sandbox,
    refuses every such upload (``XAmzContentSHA256Mismatch``, for 1 MiB as for a multipart
    128 MiB); a profile that says ``when_required`` (the Kopah one does) gets no trailer, as
    with boto3's classic manager. Over HTTPS, TLS guards the bytes.

    ``direct=True``: a download into a file writes it past the page cache (see
    :func:`direct_io`); the CRT still checks the object's checksum as it arrives.
    """
    from awscrt.s3 import S3FileIoOptions
    from s3transfer.crt import S3ClientArgsCreator

    class RequestBuilder(S3ClientArgsCreator):
        def _get_make_request_args_put_object(self, **kwargs: Any) -> dict[str, Any]:
            put = super()._get_make_request_args_put_object  # type: ignore[misc]
            args: dict[str, Any] = put(**kwargs)
            if not upload_checksums:
                args["checksum_config"] = None
            return args

        def _get_make_request_args_get_object(self, **kwargs: Any) -> dict[str, Any]:
            get = super()._get_make_request_args_get_object  # type: ignore[misc]
            args: dict[str, Any] = get(**kwargs)
            if direct and args.get("recv_filepath"):
                args["fio_options"] = S3FileIoOptions(direct_io=True)
            return args

    return RequestBuilder(serializer, osutil)
