"""The embedded ClickHouse listens on loopback only and runs nothing for a stranger.

Guarantee: no other interface of the machine reaches it, and on loopback a request without
the data directory's secret (a web page's cross-site POST, another local user) runs nothing.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psutil

from collector import ServerInfo
from tests.collector.test_embedded_security import hostile_attempts
from tests.reliability.harness import Row


def other_addresses() -> list[str]:
    """Every address of this machine's interfaces that is not loopback."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            host = address.address  # link-local ones keep their %interface scope
            if host.startswith("127.") or host == "::1":
                continue
            found.append(host)
    return found


def reachable(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(2)
        try:
            sock.connect(address)
        except OSError:
            return False
    return True


def test_loopback_only_and_nothing_without_the_secret(
    clickhouse_server: ServerInfo, tmp_path: Path
) -> None:
    listening = {
        conn.laddr.ip
        for conn in psutil.Process(clickhouse_server.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening == {"127.0.0.1"}, listening
    others = other_addresses()
    open_elsewhere = [host for host in others if reachable(host, clickhouse_server.port)]
    target = tmp_path / "written"
    answers = hostile_attempts(clickhouse_server.url, target)
    ran = [a for a in answers if a.status_code not in (404, 405)]
    Row("embedded ClickHouse exposure", f"{len(others)} other addresses, {len(answers)} "
        "requests without the secret", "cross-site text/plain POST, ?user=, other users",
        len(answers), "-", "-", "-", "-").record()  # fmt: skip
    assert open_elsewhere == [], f"reachable on {open_elsewhere}"
    assert ran == [] and not target.exists()
    assert reachable("127.0.0.1", clickhouse_server.port)  # the check above can fail
