"""A real Neo4j Community server without Docker, built from Maven Central.

``tools/neo4j`` holds a Maven project (``pom.xml``, ``kgbuild.NeoLauncher``) that runs the
Neo4j 5.26 Community DBMS embedded, with its Bolt connector on a loopback port. This module builds
it (``mvn package`` into the default ``~/.m2`` cache, once) and starts/stops it as a background JVM.
Tests use it when ``NEO4J_URI`` is not set; users without Docker run ``kgbuild neo4j start``
(or ``python -m kgbuild.store.neo4j.server start|status|stop --home DIR --port 7687``).

Authentication is always on. The password of user ``neo4j`` is the one given, or one generated
on first start; either way it is kept in ``HOME/neo4j.password`` (mode 0600, in a 0700 home), where
kgbuild finds it (:func:`local_server_password`). It reaches the JVM on its standard input, never
on a command line or in the environment. The launcher also refuses WebSocket/HTTP on the Bolt port,
runs no HTTP connector, refuses ``file:`` URLs in ``LOAD CSV`` and loads plugin procedures from
an allow-list only (see ``NeoLauncher.java``). Files the JVM writes (logs included) are private
(umask 077).

Measured on the development machine (2 shared CPU cores, OpenJDK 17.0.15, Neo4j 5.26.30, heap
``-Xmx1g``, page cache 256 MiB):

* start-up, ``start()`` until the ``NEO4J READY`` line: 4.1-6.2 s with the machine otherwise
  quiet (4.0-4.6 s of it inside the JVM, about 1 s more with a password); 12-21 s while a
  training job kept both cores busy (load 7), about half of that with
  :data:`FAST_START_JVM_OPTIONS` (C1 JIT only), which the tests use.
* clean stop (SIGTERM): under 1 s.
* RSS of the JVM: 0.46-0.51 GB idle after start; 1.05-1.42 GB after writing the 400,000-row
  benchmark graph (``bench/bench_neo4j_write.py``; 1.06 GB with the parallel collector it
  runs now, on the Zen 4 host).
* first ``mvn package``: about 230 MB into ``~/.m2``, 213 jars (123 MB) copied to
  ``tools/neo4j/target/lib``; about 5 s when the cache is warm.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kgbuild.errors import KGBuildError

__all__ = [
    "DEFAULT_TOOLS_DIR",
    "FAST_START_JVM_OPTIONS",
    "PASSWORD_FILE",
    "LocalNeo4j",
    "Neo4jServerError",
    "ServerStatus",
    "default_home",
    "free_port",
    "local_server_password",
    "read_password_file",
]

#: Where the Maven project lives (override with ``KGBUILD_NEO4J_TOOLS``).
DEFAULT_TOOLS_DIR = Path(
    os.environ.get("KGBUILD_NEO4J_TOOLS", Path(__file__).resolve().parents[3] / "tools" / "neo4j")
)
READY_PREFIX = "NEO4J READY "
LAUNCHER_CLASS = "kgbuild.NeoLauncher"
PID_FILE = "neo4j.pid"
URI_FILE = "neo4j.uri"
LOG_FILE = "neo4j-launcher.log"
PASSWORD_FILE = "neo4j.password"
USER = "neo4j"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_STAMP = ".kgbuild-built"
#: C1 JIT only: about half the start-up time on a busy machine, lower peak write throughput.
FAST_START_JVM_OPTIONS: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)
#: The parallel collector, not G1: on 2 cores its collector threads took about half of G1's
#: CPU time (5 against 10 s while writing the 400,000-row benchmark graph), which leaves
#: more to the Bolt worker. Its pauses are longer (up to 0.18 s, a full collection, in that
#: write), which a local server can afford.
_JVM_FLAGS = (
    "-XX:+UseParallelGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dfile.encoding=UTF-8",
)


class Neo4jServerError(KGBuildError, RuntimeError):
    """The local Neo4j server could not be built, started or stopped."""


@dataclass(frozen=True)
class ServerStatus:
    """What :meth:`LocalNeo4j.status` found.

    Attributes:
        running: Whether a launcher process for this home is alive.
        pid: Its process id, if running.
        uri: The Bolt URI it serves (``None`` when not running).
        rss_bytes: Its resident memory (Linux only), if running.
        home: The server's home directory.
    """

    running: bool
    pid: int | None
    uri: str | None
    rss_bytes: int | None
    home: Path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now.

    Args:
        host: Interface to bind to while probing.

    Returns:
        A port number chosen by the kernel.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def default_home() -> Path:
    """Home of the server ``kgbuild neo4j start`` runs: ``$KGBUILD_NEO4J_HOME`` or ~/.kgbuild/neo4j."""
    return Path(os.environ.get("KGBUILD_NEO4J_HOME") or Path.home() / ".kgbuild" / "neo4j")


def read_password_file(path: str | os.PathLike[str]) -> str:
    """The password in ``path`` (its first line).

    Raises:
        Neo4jServerError: The file is missing, unreadable or empty.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise Neo4jServerError(f"cannot read the Neo4j password file {path}: {exc}") from exc
    if not lines or not lines[0]:
        raise Neo4jServerError(f"the Neo4j password file {path} is empty")
    return lines[0]


def local_server_password(uri: str, home: Path | None = None) -> str | None:
    """The password of the local server in ``home`` if it runs and ``uri`` points at it.

    Nothing is returned for a server that is not running, so that the password never goes to
    another one that took over its address.

    ``localhost``, ``127.0.0.1`` and ``::1`` count as the same host; ``bolt`` and ``neo4j``
    schemes as the same server.

    Args:
        uri: The Bolt URI a client is about to use.
        home: The server's home (default: :func:`default_home`).

    Returns:
        The password from ``HOME/neo4j.password``, or ``None`` when no local server runs at
        ``uri`` (or it keeps no password file).
    """
    home = default_home() if home is None else home
    if not (home / PASSWORD_FILE).is_file():
        return None
    state = LocalNeo4j(home, port=0, tie_to_parent=False).status()
    if not state.running or state.uri is None or _endpoint(uri) != _endpoint(state.uri):
        return None
    try:
        return read_password_file(home / PASSWORD_FILE)
    except Neo4jServerError:
        return None


def _endpoint(uri: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or 7687
    except ValueError:
        return None
    if host is None:
        return None
    return ("127.0.0.1" if host in _LOOPBACK else host, port)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start (replacing it atomically)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


class LocalNeo4j:
    """A Neo4j 5.26 Community server in a background JVM, on a loopback port.

    Args:
        home: Directory for data, logs, the pid file and the launcher log.
        port: Bolt port; a free one is picked when ``None`` (and kept for restarts).
        password: Password of user ``neo4j`` (8+ characters); ``None``: the one kept in
            ``home/neo4j.password``, generated on the first start. A given one is kept there too.
        host: Interface to listen on.
        heap: JVM heap size (``-Xmx``).
        pagecache_bytes: Neo4j page cache size.
        tools_dir: The Maven project (``pom.xml`` + launcher source).
        java: Java executable (default: ``$JAVA_HOME/bin/java`` or ``java`` on ``PATH``).
        mvn: Maven executable (default: ``mvn`` on ``PATH``).
        tie_to_parent: Stop the JVM when this Python process exits (via a stdin pipe).
        jvm_options: Extra JVM options, e.g. :data:`FAST_START_JVM_OPTIONS` for tests.
        bolt_websocket: Accept Bolt over WebSocket (Neo4j Browser); off: any web page open on
            this machine could otherwise reach the server.
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        port: int | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        heap: str = "1g",
        pagecache_bytes: int = 256 * 1024 * 1024,
        tools_dir: str | os.PathLike[str] | None = None,
        java: str | None = None,
        mvn: str | None = None,
        tie_to_parent: bool = True,
        jvm_options: Sequence[str] = (),
        bolt_websocket: bool = False,
    ) -> None:
        if password is not None and len(password) < 8:
            raise ValueError("Neo4j passwords need at least 8 characters")
        if password is not None and ("\n" in password or "\r" in password):
            raise ValueError("a Neo4j password cannot contain a line break")
        self.home = Path(home).resolve()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._password = password
        self.heap = heap
        self.pagecache_bytes = pagecache_bytes
        self.tools_dir = Path(tools_dir).resolve() if tools_dir else DEFAULT_TOOLS_DIR
        self._java = java
        self._mvn = mvn
        self.tie_to_parent = tie_to_parent
        self.jvm_options = tuple(jvm_options)
        self.bolt_websocket = bolt_websocket
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths and settings ------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """The Bolt URI of this server."""
        return f"bolt://{self.host}:{self.port}"

    @property
    def password_file(self) -> Path:
        """Where the password of user ``neo4j`` is kept (mode 0600)."""
        return self.home / PASSWORD_FILE

    @property
    def password(self) -> str:
        """The password of user ``neo4j``: the given one, else the one in :attr:`password_file`.

        Raises:
            Neo4jServerError: None was given and the server never started in this home.
        """
        if self._password is not None:
            return self._password
        return read_password_file(self.password_file)

    @property
    def auth(self) -> tuple[str, str]:
        """Driver auth: ``("neo4j", password)``."""
        return (USER, self.password)

    @property
    def pid_file(self) -> Path:
        """File holding the JVM's process id while it runs."""
        return self.home / PID_FILE

    @property
    def log_file(self) -> Path:
        """The JVM's stdout/stderr (Neo4j's own logs are under ``home/logs``)."""
        return self.home / LOG_FILE

    @property
    def lib_dir(self) -> Path:
        """Where ``mvn package`` copies the runtime jars."""
        return self.tools_dir / "target" / "lib"

    # -- build -------------------------------------------------------------------------------

    def _sources_digest(self) -> str:
        digest = hashlib.sha256()
        sources = [self.tools_dir / "pom.xml", *sorted((self.tools_dir / "src").rglob("*.java"))]
        for path in sources:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def is_built(self) -> bool:
        """Whether the jars and the compiled launcher match the current sources."""
        stamp = self.lib_dir / _STAMP
        try:
            return stamp.read_text().strip() == self._sources_digest()
        except OSError:
            return False

    def build(self, *, force: bool = False) -> None:
        """Run ``mvn package`` unless the jars are already built from the current sources.

        Safe to call from several processes at once (a file lock serialises the builds).

        Args:
            force: Build even when the jars look up to date.

        Raises:
            Neo4jServerError: Maven or Java is missing, or the build failed.
        """
        if not (self.tools_dir / "pom.xml").is_file():
            raise Neo4jServerError(f"no Maven project at {self.tools_dir} (pom.xml missing)")
        if not force and self.is_built():
            return
        self.java_executable()  # fail early with a clear message
        mvn = shutil.which(self._mvn or "mvn")
        if mvn is None:
            raise Neo4jServerError(
                f"Maven ({self._mvn or 'mvn'!r}) is not found: install Maven (apt-get install "
                "maven) or set NEO4J_URI to an existing Neo4j 5.26+ server"
            )
        target = self.tools_dir / "target"
        target.mkdir(parents=True, exist_ok=True)
        with open(target / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not force and self.is_built():
                return
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(self.tools_dir / "pom.xml"), "package"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                tail = _tail(proc.stdout + proc.stderr, 40)
                raise Neo4jServerError(
                    f"'mvn package' in {self.tools_dir} failed (exit {proc.returncode}):\n{tail}"
                )
            (self.lib_dir / _STAMP).write_text(self._sources_digest() + "\n")

    def java_executable(self) -> str:
        """Return the Java executable to run the server with.

        Raises:
            Neo4jServerError: No Java was found.
        """
        if self._java:
            java = shutil.which(self._java)
            if java is None:
                raise Neo4jServerError(f"Java executable {self._java!r} is not found")
            return java
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            return str(Path(java_home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise Neo4jServerError(
                "Java is not on PATH and JAVA_HOME is not set: Neo4j 5.26 needs a JDK 17 or 21 "
                "(apt-get install openjdk-17-jdk-headless)"
            )
        return java

    # -- start / stop / status ---------------------------------------------------------------

    def command(self) -> list[str]:
        """The JVM command line that starts the server (the password goes to its stdin)."""
        classpath = f"{self.tools_dir / 'target' / 'classes'}{os.pathsep}{self.lib_dir / '*'}"
        return [
            self.java_executable(),
            "-Xms256m",
            f"-Xmx{self.heap}",
            *_JVM_FLAGS,
            *self.jvm_options,
            f"-Dkgbuild.neo4j.host={self.host}",
            f"-Dkgbuild.neo4j.pagecache.bytes={self.pagecache_bytes}",
            f"-Dkgbuild.neo4j.exitOnStdinEof={'true' if self.tie_to_parent else 'false'}",
            f"-Dkgbuild.neo4j.boltWebSocket={'true' if self.bolt_websocket else 'false'}",
            "-cp",
            classpath,
            LAUNCHER_CLASS,
            str(self.home),
            str(self.port),
        ]

    def start(self, timeout: float = 180.0) -> str:
        """Build if needed, start the JVM in the background and wait until it serves Bolt.

        Args:
            timeout: Seconds to wait for the ready line.

        Returns:
            The Bolt URI.

        Raises:
            Neo4jServerError: Another server runs in this home, the JVM exited, or it was not
                ready in time (the message ends with the tail of the launcher log).
        """
        if self._proc is not None and self._proc.poll() is None:
            return self.uri
        running = self._running_pid()
        if running is not None:
            raise Neo4jServerError(
                f"a Neo4j server (pid {running}) already runs in {self.home}; stop() it first"
            )
        self.build()
        if not _port_free(self.host, self.port):
            raise Neo4jServerError(
                f"port {self.port} on {self.host} is already in use: pick another port "
                "(LocalNeo4j(port=None) picks a free one) or stop what listens there"
            )
        self._prepare_home()
        password = self._ensure_password()
        with open(self.log_file, "ab") as log:
            log.write(f"--- starting {self.uri} at {time.ctime()}\n".encode())
            log.flush()
            offset = log.tell()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
                umask=0o077,
            )
        self._send_password(password)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while True:
            output = self._log_since(offset)
            if any(line.startswith(READY_PREFIX) for line in output.splitlines()):
                (self.home / URI_FILE).write_text(self.uri + "\n")
                return self.uri
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._forget()
                raise Neo4jServerError(
                    f"Neo4j exited with code {code} before it was ready{_root_cause(output)} "
                    f"(log {self.log_file}):\n{_tail(output, 40)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise Neo4jServerError(
                    f"Neo4j was not ready after {timeout:.0f} s (log {self.log_file}):\n"
                    f"{_tail(self._log_since(offset), 40)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server cleanly (SIGTERM, then SIGKILL after ``timeout`` seconds).

        A no-op when it is not running. Works for a server started by another process from
        the same home (through the pid file).

        Args:
            timeout: Seconds to wait for a clean shutdown.
        """
        pid = self._running_pid()
        if pid is None:
            self._forget()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._forget()

    def status(self) -> ServerStatus:
        """Report whether the server runs, its pid, URI and resident memory."""
        pid = self._running_pid()
        if pid is None:
            return ServerStatus(False, None, None, None, self.home)
        uri = self.uri
        if self._proc is None:  # started elsewhere: it may use another port
            with contextlib.suppress(OSError):
                uri = (self.home / URI_FILE).read_text().strip() or uri
        return ServerStatus(True, pid, uri, _rss_bytes(pid), self.home)

    def __enter__(self) -> LocalNeo4j:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------------------------

    def _prepare_home(self) -> None:
        """Create the home, private to this user (data, logs and the password live there)."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.chmod(0o700)

    def _ensure_password(self) -> str:
        """The password to start with, kept in :attr:`password_file` (generated if none)."""
        if self._password is None and self.password_file.is_file():
            return read_password_file(self.password_file)
        password = self._password if self._password is not None else secrets.token_urlsafe(24)
        _write_private(self.password_file, password + "\n")
        return password

    def _send_password(self, password: str) -> None:
        """Hand the password to the launcher on its stdin (closed unless tied to this process)."""
        if self._proc is None or self._proc.stdin is None:
            raise Neo4jServerError("the launcher was not started with a stdin pipe")
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(password.encode("utf-8") + b"\n")
            self._proc.stdin.flush()
        if not self.tie_to_parent:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def _running_pid(self) -> int | None:
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc.pid
            self._forget()
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _is_launcher(pid, self.home):
            return pid
        self.pid_file.unlink(missing_ok=True)  # stale
        return None

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_launcher(pid, self.home):
                return True
            time.sleep(0.1)
        return False

    def _forget(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
            if self._proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(0.1)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        (self.home / URI_FILE).unlink(missing_ok=True)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _root_cause(log: str) -> str:
    """``": <last 'Caused by' line>"`` of a Java stack trace in ``log``, or ``""``."""
    causes = [line.strip() for line in log.splitlines() if line.startswith("Caused by:")]
    return f": {causes[-1].removeprefix('Caused by:').strip()}" if causes else ""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Netty does: TIME_WAIT is ok
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _is_launcher(pid: int, home: Path) -> bool:
    """Whether ``pid`` is alive and (where /proc exists) is our launcher for ``home``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc: trust the pid file
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    if not args or args == [b""]:
        return False  # a zombie: exited, not yet reaped
    return LAUNCHER_CLASS.encode() in args and str(home).encode() in args


def _rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line: ``start``, ``stop``, ``status`` or ``build`` a local server."""
    parser = argparse.ArgumentParser(prog="python -m kgbuild.store.neo4j.server")
    parser.add_argument("action", choices=["build", "start", "stop", "status"])
    parser.add_argument("--home", default=str(default_home()), help="data/log directory")
    parser.add_argument("--port", type=int, default=7687)
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD"))
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--bolt-websocket", action="store_true", help="accept Bolt over WebSocket")
    args = parser.parse_args(argv)
    server = LocalNeo4j(
        args.home,
        port=args.port,
        password=args.password,
        heap=args.heap,
        tie_to_parent=False,
        bolt_websocket=args.bolt_websocket,
    )
    try:
        if args.action == "build":
            server.build(force=True)
            print(f"built {server.lib_dir}")
        elif args.action == "start":
            print(server.start(timeout=args.timeout))
            print(f"password of user {USER}: {server.password_file}")
        elif args.action == "stop":
            server.stop()
            print("stopped")
        else:
            st = server.status()
            print(f"running pid={st.pid} uri={st.uri}" if st.running else "not running")
            return 0 if st.running else 3
    except Neo4jServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
