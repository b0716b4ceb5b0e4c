"""Find a running ``kgbuild serve`` for a graph and ask it, so that ``kgbuild ask`` starts fast.

``kgbuild serve`` writes a small record (:class:`ServerRecord`: its URL, process id, the graph
and the models it answers with) into the registry folder (``serve.registry_dir``) while it
runs. ``kgbuild ask`` looks for the record of the same graph and models; when the process is
alive it posts the question to ``/ask`` instead of loading the models itself (seconds) and
falls back to answering locally when the server does not answer. Before asking, it checks
that the server on the port wrote the record (:func:`verify_server`: ``/health`` names the
record's ``server_id``) and removes a record whose port nothing, or another server, answers
on. Nothing here imports torch.

The record holds no secret: a server with a token is asked with the token of the asking
side's own settings (``KGBUILD_SERVE__TOKEN``). Only loopback URLs are recorded and asked.
A record is trusted only where no other user could have written it: the registry folder and
the record file are this user's and writable by no one else, every folder above is this
user's or root's and, when others may write it, sticky (``/tmp``), the process recorded
is this user's, and so is the socket listening on its port (where ``/proc/net/tcp`` tells).
Otherwise another local user could point ``kgbuild ask`` at a server of theirs on a loopback
port and read the questions and the token sent with them.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import pwd
import stat
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from kgbuild.errors import KGBuildError
from kgbuild.qa.models import AskResult
from kgbuild.qa.store import store_location

if TYPE_CHECKING:
    from kgbuild.config import Settings

__all__ = [
    "RemoteUnavailable",
    "ServerRecord",
    "ask_server",
    "find_server",
    "graph_source",
    "record_path",
    "register_server",
    "registry_dir",
    "unregister_server",
    "verify_server",
]

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 10.0
"""How long :func:`verify_server` waits for ``/health``."""
ANSWER_TIMEOUT_S = 120.0
"""How long ``ask_server`` waits on the socket (a refused connection fails at once)."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Straight to the loopback server: ``urlopen`` would send the question and the token to the
proxy of ``http_proxy`` (no ``no_proxy`` entry for 127.0.0.1), which cannot reach it."""


class RemoteUnavailable(KGBuildError):
    """The recorded server could not answer (gone, refusing, or another error)."""


class ServerRecord(BaseModel):
    """What a running ``kgbuild serve`` records about itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    """Base URL on the loopback interface, e.g. ``http://127.0.0.1:8000``."""
    pid: int
    graph: str
    """The graph it reads (:func:`graph_source`)."""
    qa_model: str
    ner_model: str
    started: str
    """ISO time the server started."""
    server_id: str
    """Random, one per start; the server's ``/health`` names it, so that a reader knows the
    server on the port is the one that wrote the record (not one that got its port)."""


def graph_source(settings: Settings, *, graph: Path | None, neo4j: str | None) -> str:
    """The graph ``open_store`` reads for these arguments (:func:`store_location`), as a string.

    Neo4j: ``neo4j:<uri>/<database>``. The exported graph: ``file:<absolute path>`` with the
    file's size and modification time, so a record made before a rebuild never matches.
    """
    uri, path = store_location(settings, graph=graph, neo4j=neo4j)
    if uri:
        return f"neo4j:{uri}/{settings.neo4j.database or ''}"
    path = path.resolve()
    try:
        stat = path.stat()
    except OSError:
        return f"file:{path}"
    return f"file:{path}@{stat.st_size}:{stat.st_mtime_ns}"


def registry_dir(settings: Settings) -> Path:
    """Where servers record themselves: ``serve.registry_dir``, else a per-user folder."""
    if settings.serve.registry_dir is not None:
        return settings.serve.registry_dir
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "kgbuild" / "servers"


def record_path(folder: Path, graph: str, qa_model: str, ner_model: str) -> Path:
    """The record file of a server for one graph and pair of models."""
    digest = hashlib.sha256(json.dumps([graph, qa_model, ner_model]).encode()).hexdigest()
    return folder / f"serve-{digest[:24]}.json"


def _loopback_url(host: str, port: int) -> str | None:
    """The URL a local client reaches a server bound to ``host`` at, or None."""
    if host in {"127.0.0.1", "localhost", "0.0.0.0"}:
        return f"http://127.0.0.1:{port}"
    if host in {"::1", "[::1]", "::"}:
        return f"http://[::1]:{port}"
    return None


def register_server(
    folder: Path,
    *,
    host: str,
    port: int,
    graph: str,
    qa_model: str,
    ner_model: str,
    server_id: str,
) -> Path | None:
    """Record this process as the server of ``graph``; return the file (None: not recorded).

    The file is written atomically, readable by its owner only. A server bound to an
    address other than loopback or a wildcard is not recorded, nor one whose graph and
    models another live server has recorded: replacing that record would lose it when this
    server stops (or fails to bind its port).
    """
    url = _loopback_url(host, port)
    if url is None:
        return None
    for missing in reversed([f for f in (folder, *folder.parents) if not f.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)  # parents too: mkdir gives them the umask's
    unsafe = _unsafe_folder(folder)
    if unsafe is not None:
        log.warning("not recording this server in %s: %s", folder, unsafe)
        return None
    path = record_path(folder, graph, qa_model, ner_model)
    try:
        other = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        other = None
    if other is not None and other.pid != os.getpid() and _alive(other.pid):
        return None
    record = ServerRecord(
        url=url,
        pid=os.getpid(),
        graph=graph,
        qa_model=qa_model,
        ner_model=ner_model,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        server_id=server_id,
    )
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(record.model_dump_json())
    partial.replace(path)
    return path


def unregister_server(path: Path) -> None:
    """Remove this process's record (if it is still ours)."""
    try:
        record = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return
    if record.pid == os.getpid():
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _ours(pid: int) -> bool:
    """Whether ``pid`` is a live process of this user."""
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return False  # no such process
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:  # gone, or another user's (PermissionError)
        return False
    return True


def _writable_by_others(info: os.stat_result) -> bool:
    """Whether users other than this one may write the file or folder of ``info``.

    A folder writable by its group is not, when the group is this user's own (the user
    private groups of Debian and Ubuntu, whose umask 002 makes folders group-writable).
    """
    if info.st_mode & stat.S_IWOTH:
        return True
    if not info.st_mode & stat.S_IWGRP:
        return False
    if info.st_gid != os.getgid():
        return True
    try:
        members = set(grp.getgrgid(info.st_gid).gr_mem)
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return True
    return not members <= {user}


def _unsafe_folder(folder: Path) -> str | None:
    """Why a record in ``folder`` could have been written by another user, or None."""
    uid = os.getuid()
    try:
        info = folder.lstat()
        if stat.S_ISLNK(info.st_mode):
            info = folder.stat()
        if info.st_uid != uid:
            return f"the folder {folder} belongs to another user (uid {info.st_uid})"
        if _writable_by_others(info):
            return f"the folder {folder} is writable by other users ({info.st_mode & 0o777:o})"
        for above in folder.resolve().parents:
            info = above.stat()
            if info.st_uid not in (uid, 0):
                return f"the folder {above} belongs to another user (uid {info.st_uid})"
            if _writable_by_others(info) and not info.st_mode & stat.S_ISVTX:
                return f"the folder {above} is writable by other users and not sticky"
    except OSError as exc:
        return f"cannot check {folder}: {exc.strerror or exc}"
    return None


def _unsafe_record(path: Path) -> str | None:
    """Why the record file ``path`` could have been written by another user, or None."""
    unsafe = _unsafe_folder(path.parent)
    if unsafe is not None:
        return unsafe
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if _writable_by_others(info):
        return f"{path} is writable by other users"
    return None


def find_server(folder: Path, graph: str, qa_model: str, ner_model: str) -> ServerRecord | None:
    """The record of a live local server of this graph and models, else None.

    A record whose process is gone is removed. A record that another user could have
    written, or whose process is not this user's, is not used (logged as a warning): the
    question and the token would go to whoever wrote it.
    """
    path = record_path(folder, graph, qa_model, ner_model)
    try:
        unsafe = _unsafe_record(path)
        record = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None
    if unsafe is not None:
        log.warning("not asking the server recorded in %s: %s", path, unsafe)
        return None
    matches = (record.graph, record.qa_model, record.ner_model) == (graph, qa_model, ner_model)
    host = record.url.split("//", 1)[-1].rsplit(":", 1)[0]
    if not matches or host not in LOOPBACK:
        return None
    if not _alive(record.pid):
        path.unlink(missing_ok=True)
        return None
    if not _ours(record.pid):
        log.warning(
            "not asking the server recorded in %s: its process %d is another user's",
            path,
            record.pid,
        )
        return None
    port = urlsplit(record.url).port
    listener = _listener_uid(port) if port is not None else None
    if listener is not None and listener != os.getuid():
        log.warning(
            "not asking the server recorded in %s: port %d is another user's (uid %d); "
            "the recorded server is gone",
            path,
            port,
            listener,
        )
        return None
    return record


def _listener_uid(port: int) -> int | None:
    """The user listening on TCP ``port`` here (Linux: ``/proc/net/tcp``), else None.

    A recorded server that stopped without removing its record (killed) leaves its port to
    whoever binds it next, and its process id to whatever process gets it next.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            listening = len(fields) > 7 and fields[3] == "0A"
            if listening and int(fields[1].rpartition(":")[2], 16) == port:
                return int(fields[7])
    return None


def verify_server(
    folder: Path,
    record: ServerRecord,
    *,
    token: str | None = None,
    timeout: float = HEALTH_TIMEOUT_S,
) -> None:
    """Check that the server at the record's URL wrote it: its ``/health`` names its id.

    A server killed (``kill -9``) leaves its record, its port to whoever binds it next and
    its process id to whatever process gets it next. Where nothing listens on the port, or
    a server that is not the recorded one answers, the record is removed.

    Raises:
        RemoteUnavailable: the server is not the recorded one, or cannot tell (refused the
            token, busy); the message says which, and whether the record was removed.
    """
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{record.url}/health", headers=headers)
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            _remove(folder, record)
            raise RemoteUnavailable(
                f"{record.url} did not answer as kgbuild serve (HTTP 404 for /health): "
                "another server has its port; its record is removed"
            ) from exc
        raise RemoteUnavailable(f"{record.url} answered HTTP {exc.code}: {_detail(exc)}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            _remove(folder, record)
            raise RemoteUnavailable(
                f"{record.url} did not answer: nothing listens on its port; its record is removed"
            ) from exc
        raise RemoteUnavailable(f"{record.url} did not answer: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("server_id") != record.server_id:
        _remove(folder, record)
        raise RemoteUnavailable(
            f"{record.url} is another server than the one recorded (its /health names "
            "another server id); its record is removed"
        )


def _remove(folder: Path, record: ServerRecord) -> None:
    """Remove ``record``'s file if it still holds this record (a new server may have replaced it)."""
    path = record_path(folder, record.graph, record.qa_model, record.ner_model)
    try:
        current = ServerRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return
    if current == record:
        path.unlink(missing_ok=True)
        log.info("removed the stale record %s of kgbuild serve (pid %d)", path, record.pid)


def ask_server(
    record: ServerRecord,
    question: str,
    *,
    top_k: int,
    threshold: float,
    token: str | None = None,
    timeout: float = ANSWER_TIMEOUT_S,
) -> AskResult:
    """Ask the recorded server; return its result.

    Raises:
        RemoteUnavailable: no connection, a refused token, or an answer that is not a
            result (the message says which); the caller may answer locally instead.
        InputError: the server rejected the question itself (HTTP 400/422).
    """
    from kgbuild.errors import InputError

    body = json.dumps({"question": question, "top_k": top_k, "threshold": threshold}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{record.url}/ask", data=body, headers=headers, method="POST")
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code in (400, 422):
            raise InputError(f"the question was refused: {detail}") from exc
        raise RemoteUnavailable(f"{record.url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RemoteUnavailable(f"{record.url} did not answer: {exc}") from exc
    if not isinstance(payload, dict):
        raise RemoteUnavailable(f"{record.url} sent something other than a result")
    payload.pop("documents", None)  # the page's titles; not part of AskResult
    try:
        return AskResult.model_validate(payload)
    except ValidationError as exc:
        raise RemoteUnavailable(f"{record.url} sent a result this version cannot read") from exc


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read().decode("utf-8")).get("detail", "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    return str(detail) or str(exc.reason)
