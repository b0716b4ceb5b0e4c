"""Real ``kgbuild build`` processes for tests that stop them (SIGTERM, SIGINT, kill -9)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BuildProcess", "long_corpus"]

FILLER = "the company said on monday that it was a good year for its work in the city ."


def long_corpus(folder: Path, sentences: int = 600) -> Path:
    """One long document (``sentences`` sentences) whose NER takes many model batches."""
    folder.mkdir(parents=True, exist_ok=True)
    body = " ".join([FILLER] * sentences)
    (folder / "long.txt").write_text(
        body + " Maria Gonzalez said that Acme Robotics was in Lisbon .", encoding="utf-8"
    )
    return folder


class BuildProcess:
    """``python -m kgbuild build ...`` in its own process; its output read line by line.

    SIGINT is reset to its default in the child (a shell's background job inherits it
    ignored), so that Python turns it into ``KeyboardInterrupt`` there as it would in a
    terminal.
    """

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kgbuild", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        """The build's process id."""
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 600) -> str:
        """Block until an output line contains ``text``; fail if the process ends first."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no line with {text!r} in {timeout} s:\n{self.output}"
                ) from None
            if line is None:
                raise AssertionError(f"the build ended before printing {text!r}:\n{self.output}")
            self.lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 300) -> int:
        """Wait for the process to end and collect the rest of its output; its exit status."""
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)

    def stop(self) -> None:
        """Kill it if it still runs (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)
