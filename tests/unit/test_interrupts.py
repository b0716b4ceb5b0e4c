"""SIGTERM becomes an exception inside sigterm_raises, and only there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kgbuild.interrupts import (
    Terminated,
    exit_status,
    interruption,
    is_interruption,
    restated,
    sigterm_raises,
)


def test_sigterm_raises_terminated_inside_the_block_and_the_old_handler_returns() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as stopped, sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the block")
    assert stopped.value.signum == signal.SIGTERM
    assert str(stopped.value) == "stopped by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    assert is_interruption(stopped.value) and is_interruption(KeyboardInterrupt())
    assert not is_interruption(ValueError("bad"))
    assert (exit_status(stopped.value), exit_status(KeyboardInterrupt())) == (143, 130)


def test_outside_the_main_thread_nothing_is_installed() -> None:
    seen: list[object] = []

    def run() -> None:
        with sigterm_raises():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


def _cut_short() -> BufferError:
    """A SIGTERM whose clean-up failed, as the Neo4j driver's rollback after a cut read does."""
    with pytest.raises(BufferError) as raised, sigterm_raises():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt the block")
        except KeyboardInterrupt:
            raise BufferError("Existing exports of data: object cannot be re-sized") from None
    return raised.value


def test_an_error_raised_while_an_interruption_is_handled_is_still_that_interruption() -> None:
    error = _cut_short()
    stop = interruption(error)
    assert isinstance(stop, Terminated) and stop.signum == signal.SIGTERM
    assert is_interruption(error)  # was False: the run was recorded as failed, exit status 1
    again = restated(stop)
    assert isinstance(again, Terminated) and again is not stop and exit_status(again) == 143
    assert type(restated(KeyboardInterrupt())) is KeyboardInterrupt
    assert interruption(ValueError("bad")) is None


def test_a_run_whose_clean_up_failed_after_sigterm_is_recorded_as_interrupted(
    tmp_path: Path,
) -> None:
    from sqlalchemy.orm import Session

    from kgbuild.pipeline import fail
    from kgbuild.store.sql import ledger
    from kgbuild.store.sql.orm import RunRow, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        with Session(engine) as session, session.begin():
            ledger.start_run(session, "run-1")
        fail(engine, "run-1", _cut_short())
        with Session(engine) as session:
            run = session.get(RunRow, "run-1")
            assert run is not None
            assert (run.status, run.error) == ("interrupted", "Terminated: stopped by SIGTERM")
    finally:
        engine.dispose()


def test_sigterm_unwinds_the_block_then_ends_the_process_by_the_signal() -> None:
    """Its ``finally`` runs (a server closes its store), and the parent still sees SIGTERM."""
    code = (
        "import os, signal, time\n"
        "from kgbuild.interrupts import sigterm_unwinds\n"
        "with sigterm_unwinds():\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(30)\n"
        "    finally:\n"
        "        print('cleaned up', end='')\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout == "cleaned up", done.stderr  # flushed before the signal ended it
