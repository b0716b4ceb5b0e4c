"""The output folder's lock between real processes, and telling live processes from ended ones."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgbuild.errors import KGBuildError
from kgbuild.processes import process_alive, this_host
from kgbuild.runlock import LOCK_NAME, OutputLock, OutputLockedError

HOLD = """
import sys
from pathlib import Path
from kgbuild.runlock import OutputLock

lock = OutputLock(Path(sys.argv[1]), purpose="build", run_id="run_holder")
lock.acquire()
print("held", flush=True)
sys.stdin.readline()  # until the test closes stdin (or kills this process)
lock.release()
"""


def hold_lock(folder: Path) -> subprocess.Popen[str]:
    """Another process that takes ``folder``'s lock and keeps it until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_a_second_process_is_refused_at_once_and_told_who_holds_the_folder(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = hold_lock(tmp_path / "out")
    holders.append(holder)
    with pytest.raises(OutputLockedError) as refused:
        OutputLock(tmp_path / "out").acquire()
    message = str(refused.value)
    assert f"pid {holder.pid} on host {this_host()}" in message
    assert "run_holder" in message and str(tmp_path / "out" / LOCK_NAME) in message
    assert refused.value.holder is not None and refused.value.holder.pid == holder.pid

    assert holder.stdin is not None
    holder.stdin.close()  # the holder finishes and releases
    assert holder.wait(timeout=30) == 0
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    with OutputLock(tmp_path / "out", run_id="run_me") as lock:
        record = json.loads(lock.path.read_text(encoding="utf-8"))
        assert (record["pid"], record["host"], record["run_id"]) == (
            os.getpid(),
            this_host(),
            "run_me",
        )
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_log_line(
    tmp_path: Path, holders: list[subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    holder = hold_lock(tmp_path / "out")
    holders.append(holder)
    holder.kill()  # kill -9: no clean-up
    holder.wait(timeout=30)
    left = json.loads((tmp_path / "out" / LOCK_NAME).read_text(encoding="utf-8"))
    assert left["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="kgbuild.runlock"), OutputLock(tmp_path / "out"):
        pass
    assert f"taking over the stale lock {tmp_path / 'out' / LOCK_NAME}" in caplog.text
    assert f"pid {holder.pid} on host {this_host()}" in caplog.text
    assert "is no longer running" in caplog.text


def test_a_lock_left_on_another_host_is_not_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    record = {"pid": 4242, "host": "elsewhere.example", "started_at": "2024-01-01T00:00:00+00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(OutputLockedError, match="another host cannot be checked") as refused:
        OutputLock(folder).acquire()
    assert "pid 4242 on host elsewhere.example" in str(refused.value)
    assert f"delete {folder / LOCK_NAME}" in str(refused.value)
    assert (folder / LOCK_NAME).exists()  # left for a person to judge


def test_one_process_cannot_hold_one_folder_twice(tmp_path: Path) -> None:
    with OutputLock(tmp_path), pytest.raises(OutputLockedError, match=f"pid {os.getpid()} "):
        OutputLock(tmp_path).acquire()


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_filesystem_without_locks_is_refused_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """NFS without its lock service answers flock with ENOLCK, some SMB and FUSE mounts
    with EOPNOTSUPP (simulated: the filesystem is not something a test can mount). The
    raw OSError went up without the folder or what to do, and left the file open."""

    def refuse(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", refuse)
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(KGBuildError) as refused:
        OutputLock(tmp_path / "out").acquire()
    message = str(refused.value)
    assert f"the filesystem of {tmp_path / 'out'} does not support file locks" in message
    assert os.strerror(code) in message and "--out" in message
    assert not isinstance(refused.value, OutputLockedError)  # nobody holds the folder
    assert len(os.listdir("/proc/self/fd")) == open_before  # the lock file was closed


def test_process_alive_tells_running_from_ended_and_unreaped_processes() -> None:
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    assert not process_alive(child.pid)  # reaped: gone
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert not process_alive(zombie.pid)
    finally:
        zombie.wait(timeout=30)
    assert not process_alive(0) and not process_alive(-1)
