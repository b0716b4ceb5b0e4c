"""SIGTERM becomes an exception inside sigterm_raises, and only there."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from kgbuild.interrupts import Terminated, exit_status, is_interruption, sigterm_raises


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
