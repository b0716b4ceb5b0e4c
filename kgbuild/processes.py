"""Which process is this, and is another one still running (for locks and the run ledger)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["process_alive", "this_host"]


def this_host() -> str:
    """This machine's host name, as recorded next to a pid."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this machine (a zombie counts as ended)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True for a process that has exited but was not reaped yet (Linux ``/proc`` only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # "pid (command name) state ...": the name may hold spaces and parentheses
    fields = stat[stat.rfind(")") + 1 :].split()
    return bool(fields) and fields[0] in {"Z", "X"}
