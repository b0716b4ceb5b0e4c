"""The local Neo4j is locked down: password always, Bolt over TCP only, no file URLs, no leaks.

Each test talks to a real server started for this module in its own temporary home (not the
session's: some tests restart servers or read their logs), or to one started through the CLI.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.cli.neo4j import local_uri_if_running
from kgbuild.config import Neo4jConfig, Settings
from kgbuild.store.neo4j.server import (
    FAST_START_JVM_OPTIONS,
    LocalNeo4j,
    free_port,
    local_server_password,
    read_password_file,
)
from tests.neo4j_session import local_server_possible

pytestmark = [
    pytest.mark.neo4j,
    pytest.mark.skipif(
        not local_server_possible(), reason="needs Java and Maven for a local Neo4j"
    ),
]

WEBSOCKET_UPGRADE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Origin: http://attacker.example\r\n\r\n"
)
PLAIN_HTTP = "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """A local server started the default way: no password given, no WebSocket."""
    server = LocalNeo4j(
        tmp_path_factory.mktemp("secured") / "neo4j",
        port=free_port(),
        jvm_options=FAST_START_JVM_OPTIONS,
    )
    server.start(timeout=300)
    try:
        yield server
    finally:
        server.stop()


def _reply_to(port: int, request: str) -> bytes:
    """What the Bolt port answers to ``request`` before it closes (b"" when it just closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request.format(port=port).encode())
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
                if b"\r\n\r\n" in received:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return received


def _listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed by the server between the listing and the read
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add((address, int(port, 16)))
    return found


def _everything_written(home: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}


def test_no_password_given_means_a_generated_one_in_a_private_file(secured: LocalNeo4j) -> None:
    password_file = secured.home / "neo4j.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secured.home.stat().st_mode) == 0o700
    password = read_password_file(password_file)
    assert len(password) >= 24
    with GraphDatabase.driver(secured.uri, auth=("neo4j", password)) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    for auth in (None, ("neo4j", "neo4j"), ("neo4j", password + "x")):
        with (
            GraphDatabase.driver(secured.uri, auth=auth) as driver,
            pytest.raises(AuthError),
        ):
            driver.verify_connectivity()


def test_the_password_is_on_no_command_line_and_in_no_file_but_its_own(
    secured: LocalNeo4j,
) -> None:
    password = read_password_file(secured.password_file)
    pid = secured.status().pid
    assert pid is not None
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"kgbuild.NeoLauncher" in cmdline and password.encode() not in cmdline
    ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True)
    assert b"kgbuild.NeoLauncher" in ps.stdout and password.encode() not in ps.stdout
    assert password.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    with GraphDatabase.driver(secured.uri, auth=secured.auth) as driver:  # something to log
        driver.execute_query("MATCH (n) RETURN count(n)")
    files = _everything_written(secured.home)
    debug_log = files[secured.home / "logs" / "debug.log"].decode()
    assert "sun.java.command = kgbuild.NeoLauncher" in debug_log
    leaking = [p for p, data in files.items() if password.encode() in data]
    assert leaking == [secured.password_file]
    for log in (secured.home / "logs").iterdir():
        assert stat.S_IMODE(log.stat().st_mode) & 0o077 == 0, log


def test_the_bolt_port_refuses_websocket_and_http(secured: LocalNeo4j) -> None:
    assert _reply_to(secured.port, WEBSOCKET_UPGRADE) == b""
    assert _reply_to(secured.port, PLAIN_HTTP) == b""
    with GraphDatabase.driver(secured.uri, auth=secured.auth) as driver:  # Bolt itself works
        driver.verify_connectivity()
    pid = secured.status().pid
    assert pid is not None
    # the Bolt port, on loopback, is all it listens on: no HTTP/HTTPS connector
    assert _listening_ports(pid) in (
        {("0100007F", secured.port)},  # 127.0.0.1 in /proc/net/tcp
        {("0000000000000000FFFF00000100007F", secured.port)},  # ::ffff:127.0.0.1 in tcp6
    )


def test_load_csv_cannot_read_files(secured: LocalNeo4j, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("name\nsecret-value\n")
    (secured.home / "import" / "inside.csv").write_text("name\nimported\n")
    with GraphDatabase.driver(secured.uri, auth=secured.auth) as driver:
        for url in (outside.as_uri(), "file:///etc/hostname", "file:///inside.csv"):
            with pytest.raises(ClientError, match="allow_csv_import_from_file_urls"):
                driver.execute_query("LOAD CSV FROM $url AS row RETURN row", {"url": url})


def test_kgbuild_finds_the_local_password_only_for_that_server(
    secured: LocalNeo4j, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGBUILD_NEO4J_HOME", str(secured.home))
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    password = read_password_file(secured.password_file)
    port = secured.port
    for uri in (f"bolt://127.0.0.1:{port}", f"bolt://localhost:{port}", f"neo4j://[::1]:{port}"):
        assert Neo4jConfig(uri=uri).auth() == ("neo4j", password)
    assert local_server_password(f"bolt://127.0.0.1:{free_port()}") is None
    assert local_server_password(f"bolt://db.example.com:{port}") is None
    assert Neo4jConfig(uri=f"bolt://localhost:{port}", password="given-one").auth() == (
        "neo4j",
        "given-one",
    )
    # `kgbuild build --neo4j auto` (make demo) uses the running server, with its password
    assert local_uri_if_running() == secured.uri
    from kgbuild.qa.engine import open_store

    store = open_store(Settings(), neo4j=f"bolt://localhost:{port}")  # ask and serve
    try:
        assert store.counts()["entities"] == 0
    finally:
        store.close()
    result = CliRunner().invoke(app, ["cypher", "RETURN 40 + 2 AS answer", "--neo4j", secured.uri])
    assert result.exit_code == 0, result.output
    assert "42" in result.output


def test_cypher_queries_the_running_local_server_when_none_is_configured(
    secured: LocalNeo4j, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README: `kgbuild neo4j start`, `build --neo4j auto`, then `kgbuild cypher "..."`."""
    monkeypatch.setenv("KGBUILD_NEO4J_HOME", str(secured.home))
    for name in ("NEO4J_URI", "NEO4J_PASSWORD", "KGBUILD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for uri in ([], ["--neo4j", "auto"]):
        result = CliRunner().invoke(app, ["cypher", "RETURN 40 + 2 AS answer", *uri])
        assert result.exit_code == 0, result.output  # was "no Neo4j configured"
        assert "42" in result.output


def test_a_password_file_can_be_configured(secured: LocalNeo4j, tmp_path: Path) -> None:
    config = Neo4jConfig(uri=secured.uri, password_file=secured.password_file)
    assert config.auth() == secured.auth
    from kgbuild.errors import ConfigError

    with pytest.raises(ConfigError, match="password file"):
        Neo4jConfig(uri=secured.uri, password_file=tmp_path / "missing").auth()


def test_status_and_stop_take_the_port_and_check_it(secured: LocalNeo4j) -> None:
    runner = CliRunner()
    home = ["--home", str(secured.home), "--no-docker"]
    result = runner.invoke(app, ["neo4j", "status", *home, "--port", str(secured.port)])
    assert result.exit_code == 0, result.output
    assert secured.uri in result.output
    other = str(free_port())
    result = runner.invoke(app, ["neo4j", "status", *home, "--port", other])
    assert result.exit_code == 2 and f"not port {other}" in result.output
    result = runner.invoke(app, ["neo4j", "stop", *home, "--port", other])
    assert result.exit_code == 2 and f"not port {other}" in result.output
    assert secured.status().running  # the wrong port stopped nothing


# -- a server started through the CLI, with a given password and WebSocket asked for ----------


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


_PAGE = """<!doctype html><title>probe</title><script>
const report = (r) => fetch('/report?r=' + encodeURIComponent(r));
let opened = false;
const ws = new WebSocket('ws://127.0.0.1:BOLT_PORT/');
ws.binaryType = 'arraybuffer';
ws.onopen = () => {
  opened = true;  // Bolt handshake: magic, then versions 5.8 down to 5.0, 4.4
  ws.send(new Uint8Array([0x60, 0x60, 0xB0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0]));
};
ws.onmessage = (ev) => report('bolt ' + Array.from(new Uint8Array(ev.data)).join('.'));
ws.onclose = () => { if (!opened) report('refused'); };
</script>"""


def _what_a_web_page_gets(bolt_port: int, profile: Path) -> str:
    """Open a page from another origin in headless chromium; it tries Bolt over WebSocket."""
    browser = _browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    reports: list[str] = []
    arrived = threading.Event()
    page = _PAGE.replace("BOLT_PORT", str(bolt_port)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/report":
                reports.append(parse_qs(url.query)["r"][0])
                arrived.set()
            body = page if url.path == "/" else b""
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        proc = subprocess.Popen(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}",
                f"http://127.0.0.1:{site.server_address[1]}/",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert arrived.wait(90), "the page reported nothing"
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            site.shutdown()
    return reports[0]


def test_a_web_page_cannot_reach_the_bolt_port(secured: LocalNeo4j, tmp_path: Path) -> None:
    assert _what_a_web_page_gets(secured.port, tmp_path / "profile") == "refused"


def test_websocket_when_asked_for_and_a_given_password_replaces_the_old_one(
    tmp_path: Path,
) -> None:
    """Through the CLI: start with --password and --bolt-websocket, restart with another one."""
    home, port = tmp_path / "neo4j", free_port()
    runner = CliRunner()
    where = ["--home", str(home), "--port", str(port), "--no-docker"]
    first, second = "first-password-1", "second-password-2"
    result = runner.invoke(app, ["neo4j", "start", *where, "--password", first, "--bolt-websocket"])
    try:
        assert result.exit_code == 0, result.output
        assert f"password of user neo4j in {home / 'neo4j.password'}" in result.output
        assert read_password_file(home / "neo4j.password") == first
        # asked for: WebSocket works, from a browser page too (what the refusals above rule out)
        assert _reply_to(port, WEBSOCKET_UPGRADE).startswith(b"HTTP/1.1 101")
        assert _what_a_web_page_gets(port, tmp_path / "profile").startswith("bolt 0.0.")
        result = runner.invoke(app, ["neo4j", "stop", *where])
        assert result.exit_code == 0, result.output
        # an existing home: the password changes through ALTER USER, and WebSocket is off again
        result = runner.invoke(app, ["neo4j", "start", *where, "--password", second])
        assert result.exit_code == 0, result.output
        uri = f"bolt://127.0.0.1:{port}"
        with GraphDatabase.driver(uri, auth=("neo4j", second)) as driver:
            driver.verify_connectivity()
        with GraphDatabase.driver(uri, auth=("neo4j", first)) as driver, pytest.raises(AuthError):
            driver.verify_connectivity()
        assert read_password_file(home / "neo4j.password") == second
        assert _reply_to(port, WEBSOCKET_UPGRADE) == b""
        files = _everything_written(home)
        for password in (first, second):
            leaking = [p for p, data in files.items() if password.encode() in data]
            assert leaking in ([], [home / "neo4j.password"]), password
    finally:
        runner.invoke(app, ["neo4j", "stop", *where])
    assert not LocalNeo4j(home).status().running
