"""The embedded ClickHouse is no open door: what a hostile web page or another local user can do.

A page the user opens can POST ``text/plain`` to ``http://127.0.0.1:PORT/`` without a CORS
preflight; another local user can connect to any loopback port. Neither knows the secret, so
neither may run anything; and even with the secret, ``file()``-style table functions are off.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from collector import ServerInfo, StorageUnavailableError, Store, embedded

HOSTILE = {"Content-Type": "text/plain", "Origin": "http://evil.example"}


def hostile_attempts(url: str, target: Path) -> list[httpx.Response]:
    """Every way a page or a local user without the secret could try to run SQL."""
    write = f"INSERT INTO FUNCTION file('{target}', 'LineAsString') SELECT 'pwned'"
    read = "SELECT * FROM file('/etc/passwd', 'LineAsString')"
    with httpx.Client(timeout=10) as http:
        return [
            http.post(f"{url}/", content=write, headers=HOSTILE),
            http.post(f"{url}/", content=read, headers=HOSTILE),
            http.post(f"{url}/?user=default", content=write, headers=HOSTILE),
            http.post(f"{url}/?user=agentflight&password=guess", content=write, headers=HOSTILE),
            http.post(f"{url}/", content=write, headers={**HOSTILE, "X-ClickHouse-User": "x"}),
            http.post(f"{url}/", content=write, auth=("default", "")),
            http.post(f"{url}/", content=write, auth=("agentflight", "guess")),
            http.get(f"{url}/", params={"query": read}),
            http.get(f"{url}/play"),
            http.post(f"{url}/ping", content=write, headers=HOSTILE),
        ]


def test_a_hostile_page_runs_nothing(clickhouse_server: ServerInfo, tmp_path: Path) -> None:
    target = tmp_path / "written-by-a-web-page.txt"
    for response in hostile_attempts(clickhouse_server.url, target):
        assert response.status_code in (404, 405), (response.request.url, response.text[:200])
        assert "root:" not in response.text
    assert not target.exists()
    # /ping stays open for health checks, and says nothing else.
    ping = httpx.get(f"{clickhouse_server.url}/ping", timeout=10)
    assert ping.status_code == 200 and ping.text.strip() == "Ok."


def test_the_secret_opens_the_database_but_not_the_file_system(
    clickhouse_server: ServerInfo, tmp_path: Path
) -> None:
    target = tmp_path / "written-with-the-secret.txt"
    with httpx.Client(timeout=10) as http:
        answer = http.post(f"{clickhouse_server.dsn}/", content="SELECT currentUser()")
        assert answer.status_code == 200 and answer.text.strip() == "agentflight"
        for sql in (
            f"INSERT INTO FUNCTION file('{target}', 'LineAsString') SELECT 'x'",
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
            f"SELECT * FROM url('{clickhouse_server.url}/ping', 'LineAsString')",
        ):
            refused = http.post(f"{clickhouse_server.dsn}/", content=sql)
            assert refused.status_code != 200 and "ACCESS_DENIED" in refused.text, refused.text
    assert not target.exists()


def test_clients_with_the_documented_url_work(clickhouse_server: ServerInfo) -> None:
    client = clickhouse_connect.get_client(dsn=clickhouse_server.dsn, autogenerate_session_id=False)
    assert client.command("SELECT 40 + 2") == 42
    with Store.connect(clickhouse_server.dsn, database="security_check") as store:
        tables = store.query("SHOW TABLES FROM {db:Identifier}").result_rows
        assert "genai_spans" in {row[0] for row in tables}
        store.command("DROP DATABASE {db:Identifier} SYNC")


def test_the_url_without_the_secret_is_a_clear_error(clickhouse_server: ServerInfo) -> None:
    with pytest.raises(StorageUnavailableError, match=r"needs credentials.*agentflight db url"):
        Store.connect(clickhouse_server.url)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other local users may enter, as a home directory usually is."""
    path = Path(tempfile.mkdtemp(prefix="agentflight-shared-"))
    path.chmod(0o755)
    yield path
    embedded.stop(path / "ch")
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_other_local_users_cannot_read_the_secret_or_the_data(shared_dir: Path) -> None:
    data_dir = shared_dir / "ch"
    info, _ = embedded.start(data_dir, port=0)
    run_dir = data_dir / embedded.RUN_SUBDIR
    secret = run_dir / embedded.SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("config.xml", "users.xml"):  # both hold the secret in some form
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    assert info.secret and info.secret not in info.url and info.secret in info.dsn
    if os.geteuid() == 0:  # as root, also try it as another user for real
        for target in (secret, run_dir / "config.xml", data_dir / "store"):
            probe = subprocess.run(
                ["cat", str(target)], user=65534, group=65534, capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
            assert probe.returncode != 0 and "Permission denied" in probe.stderr


def test_printed_urls_hide_the_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "ch"
    env = {**os.environ}
    run = [sys.executable, "-m", "agentflight", "db"]
    try:
        started = subprocess.run(
            [*run, "start", "--data-dir", str(data_dir), "--port", "0"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        info = embedded.status(data_dir)
        assert info is not None and len(info.secret) >= 32
        status = subprocess.run(
            [*run, "status", "--data-dir", str(data_dir)], capture_output=True, text=True,
            timeout=120, env=env,
        )  # fmt: skip
        for output in (started.stdout, started.stderr, status.stdout):
            assert info.secret not in output
        url = subprocess.run(
            [*run, "url", "--data-dir", str(data_dir)], capture_output=True, text=True,
            timeout=120, env=env,
        )  # fmt: skip
        assert url.stdout.strip() == info.dsn
        with httpx.Client(timeout=10) as http:  # as curl does with a URL carrying credentials
            assert http.post(url.stdout.strip() + "/", content="SELECT 7").text.strip() == "7"
    finally:
        embedded.stop(data_dir)
