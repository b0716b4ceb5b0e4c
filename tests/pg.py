"""A throw-away PostgreSQL server for tests, where PostgreSQL is installed.

``KGBUILD_TEST_POSTGRES_URL`` names an existing database instead. Otherwise the server
binaries (``initdb``, ``pg_ctl``) are looked up on PATH and in /usr/lib/postgresql; as root
they run as the ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    """Whether a test PostgreSQL can be had here."""
    if os.environ.get("KGBUILD_TEST_POSTGRES_URL"):
        return True
    if not (_binary("initdb") and _binary("pg_ctl")):
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_CONTROLS: dict[str, list[str]] = {}
"""URL -> the ``pg_ctl`` command line (less its action) of a server started here."""


def can_restart(url: str) -> bool:
    """Whether :func:`stop` and :func:`start` can act on ``url`` (a server started here)."""
    return url in _CONTROLS


def stop(url: str) -> None:
    """Stop the server of ``url`` (fast: open connections are ended), started here."""
    subprocess.run([*_CONTROLS[url], "-m", "fast", "-w", "stop"], check=True, capture_output=True)


def start(url: str) -> None:
    """Start again the server of ``url`` that :func:`stop` stopped."""
    subprocess.run([*_CONTROLS[url], "-w", "start"], check=True, capture_output=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL in a new temporary folder on a free loopback port; yield its URL.

    The folder is made with :func:`tempfile.mkdtemp` (pytest's own temporary folders are
    not readable by the ``postgres`` user) and removed afterwards.
    """
    url = os.environ.get("KGBUILD_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    assert initdb and pg_ctl
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="kgbuild-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "kgbuild", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {folder}"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://kgbuild@127.0.0.1:{port}/postgres"
    _CONTROLS[url] = [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log")]
    try:
        yield url
    finally:
        _CONTROLS.pop(url, None)
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
