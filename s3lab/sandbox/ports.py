"""Ports on 127.0.0.1 for the local servers: free ones, outside the kernel's ephemeral range.

Kept apart from :mod:`s3lab.sandbox` because choosing a port well is its own small problem (see
:func:`free_port`), and the Ceph sandbox and the tests choose ports the same way.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path

HOST = "127.0.0.1"


def ephemeral_range() -> range:
    """The ports the kernel hands to outgoing connections (Linux's default when unreadable)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port(avoid: Collection[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not in ``avoid``.

    It is taken from outside the kernel's ephemeral range. A port the kernel picked for us
    (binding port 0) is an ephemeral one, free only until some outgoing connection is given it:
    SeaweedFS's parts connect to each other while others are still starting, and one such
    connection took the filer's chosen gRPC port before the filer could listen on it.
    """
    ephemeral = ephemeral_range()
    candidates = [p for p in range(10000, 65536) if p not in ephemeral and p not in avoid]
    for port in random.sample(candidates, min(len(candidates), 100)):
        if not port_in_use(port):
            return port
    with socket.socket() as sock:  # nothing outside the range is free: the kernel's choice
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something already listens on ``port`` (or we may not bind it).

    With SO_REUSEADDR, as the servers bind: a port only left in TIME_WAIT by a stopped server's
    connections is free for it again (a restarted sandbox keeps its ports).
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def listening(port: int) -> bool:
    """True when something accepts connections on ``port`` now."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def choose(count: int, wanted: int | None, remembered: list[int]) -> list[int]:
    """``count`` distinct ports, S3's first: the remembered ones when all are free, else new.

    ``wanted`` (``--port``, already checked free by the caller) replaces the S3 port.
    """
    keep = list(remembered) if len(remembered) == count else []
    if keep and wanted:
        keep[0] = wanted
    check = keep[1:] if wanted else keep
    if keep and len(set(keep)) == count and not any(port_in_use(p) for p in check):
        return keep
    chosen = [wanted or free_port()]
    while len(chosen) < count:
        chosen.append(free_port(avoid=chosen))
    return chosen
