"""What a reader or a training stage left out of a data set, and why, as one report.

Every place that drops examples (misaligned SQuAD answers, unanswerable questions a stage
does not use, answers no tokenizer window holds whole...) records a :class:`Skip` per
example; a :class:`SkipReport` groups them by reason and says so the same way in the log,
on the command line and in JSON ("12 of 1,000 questions in dev.json skipped: the answer
text is not in the context (first: 'q7', ...)").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kgbuild.errors import InputError

__all__ = ["Skip", "SkipReport"]


@dataclass(frozen=True)
class Skip:
    """One example left out (or kept with a change): its id and why."""

    id: str
    reason: str
    """Shared by every example left out for the same cause (the grouping key)."""
    detail: str = ""
    """This example's particulars (which answer, what was found instead)."""


def _grouped(skips: Iterable[Skip]) -> dict[str, list[Skip]]:
    groups: dict[str, list[Skip]] = {}
    for skip in skips:
        groups.setdefault(skip.reason, []).append(skip)
    return groups


def _first(skip: Skip) -> str:
    return f"{skip.id!r}: {skip.detail}" if skip.detail else repr(skip.id)


@dataclass(frozen=True)
class SkipReport:
    """The examples of one source left out, and those kept with a change, by reason."""

    source: str
    """What was read, e.g. ``"questions in dev.json"``."""
    total: int
    """Examples considered (left out ones included)."""
    skipped: tuple[Skip, ...] = ()
    changed: tuple[Skip, ...] = ()
    """Examples kept, but not as the data had them (an answer realigned or left out)."""

    @classmethod
    def of(
        cls, source: str, total: int, skipped: Sequence[Skip], changed: Sequence[Skip] = ()
    ) -> SkipReport:
        """A report from lists of skips."""
        return cls(source, total, tuple(skipped), tuple(changed))

    @property
    def kept(self) -> int:
        """Examples left after the skips."""
        return self.total - len(self.skipped)

    def lines(self) -> list[str]:
        """One sentence per reason (none when nothing was skipped or changed)."""
        out = []
        for verb, skips in (("skipped", self.skipped), ("kept with a change", self.changed)):
            for reason, group in _grouped(skips).items():
                out.append(
                    f"{len(group):,} of {self.total:,} {self.source} {verb}: {reason} "
                    f"(first: {_first(group[0])})"
                )
        return out

    def to_json(self) -> dict[str, Any]:
        """Counts by reason, with the first example of each, for a JSON result or card."""

        def reasons(skips: tuple[Skip, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "reason": reason,
                    "count": len(group),
                    "first_id": group[0].id,
                    "first_detail": group[0].detail,
                }
                for reason, group in _grouped(skips).items()
            ]

        return {
            "source": self.source,
            "total": self.total,
            "skipped": len(self.skipped),
            "reasons": reasons(self.skipped),
            "changed": len(self.changed),
            "changes": reasons(self.changed),
            "lines": self.lines(),
        }

    def log(self, logger: logging.Logger) -> None:
        """Each line of :meth:`lines` as a warning."""
        for line in self.lines():
            logger.warning("%s", line)

    def require_some(self, usable: int, what: str) -> None:
        """Raise when nothing usable is left, saying what was skipped.

        Raises:
            InputError: ``usable`` is 0.
        """
        if usable:
            return
        why = "; ".join(self.lines()) or f"the {self.source} hold none"
        raise InputError(f"no {what} left: {why}")
