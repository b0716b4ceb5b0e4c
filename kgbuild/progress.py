"""Progress within one model stage: a tqdm bar on a terminal, INFO log lines otherwise.

A long document is one batch of thousands of sentences, so a bar over documents stands
still for as long as its model stages run. :func:`track` reports the stage's own model
batches instead: on a terminal as a transient tqdm bar; when stderr is not a terminal
(a log file, CI, a container) as an INFO line on the ``kgbuild.progress`` logger every
:data:`LOG_STEP_PERCENT` percent, for stages of at least :data:`LOG_MIN_BATCHES` batches
(short ones stay quiet). :func:`count_documents` does the same for a build's documents.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

from tqdm.auto import tqdm

__all__ = ["LOG_MIN_BATCHES", "LOG_STEP_PERCENT", "count_documents", "track"]

log = logging.getLogger("kgbuild.progress")

T = TypeVar("T")

LOG_STEP_PERCENT: Final = 10
"""Percent of a stage between two log lines."""
LOG_MIN_BATCHES: Final = 50
"""Stages with fewer batches than this log nothing."""


def track(batches: Sequence[T], stage: str, *, enabled: bool, detail: str = "") -> Iterator[T]:
    """Iterate a stage's model ``batches`` (a sequence or range), reporting progress.

    Args:
        batches: What the stage loops over, one model batch per item.
        stage: The stage's name (``ner``, ``re``, ``attributes``).
        enabled: Report at all (``progress=True`` of a build).
        detail: Said once in the first log line, e.g. ``"48,210 windows"``.
    """
    if not enabled:
        yield from batches
    elif sys.stderr.isatty():
        yield from tqdm(batches, desc=stage, unit="batch", leave=False)
    else:
        yield from _logged(batches, stage, detail)


def _logged(batches: Sequence[T], stage: str, detail: str) -> Iterator[T]:
    total = len(batches)
    if total < LOG_MIN_BATCHES:
        yield from batches
        return
    log.info("%s: %s batches%s", stage, f"{total:,}", f" ({detail})" if detail else "")
    reported = 0
    for done, batch in enumerate(batches, 1):
        yield batch
        percent = done * 100 // total
        if percent >= reported + LOG_STEP_PERCENT:
            reported = percent - percent % LOG_STEP_PERCENT
            log.info("%s: %d%% (%s/%s batches)", stage, reported, f"{done:,}", f"{total:,}")


@contextmanager
def count_documents(total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A callback that counts documents done out of ``total``, reporting progress.

    On a terminal a tqdm bar; otherwise (a pipe, a log file) an INFO line on the
    ``kgbuild.progress`` logger every :data:`LOG_STEP_PERCENT` percent, never a bar's
    carriage-return updates.
    """
    if enabled and sys.stderr.isatty():
        with tqdm(total=total, desc="documents", unit="doc") as bar:

            def advance(count: int) -> None:
                bar.update(count)

            yield advance
        return
    done, reported = 0, 0

    def update(count: int) -> None:
        nonlocal done, reported
        done += count
        percent = done * 100 // total if total else 100
        if enabled and percent >= reported + LOG_STEP_PERCENT:
            reported = percent - percent % LOG_STEP_PERCENT
            log.info("documents: %d%% (%s/%s)", reported, f"{done:,}", f"{total:,}")

    yield update
