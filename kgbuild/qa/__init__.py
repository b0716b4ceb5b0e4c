"""Question answering over the built graph, with evidence (CLI ``kgbuild ask``/``serve``).

Steps: link the question to entities (:mod:`.linking`), gather the evidence sentences of
their facts and the sentences that mention them (:mod:`.contexts`), rank them
(:mod:`.ranking`), read answers with the extractive QA model
(:class:`kgbuild.nlp.reader.ExtractiveReader`), or answer list and count questions from
the graph directly (:mod:`.structured`).

The engine's names are imported on first use: :mod:`.models` and :mod:`.remote` (asking a
running ``kgbuild serve``) load without torch, so a CLI that asks a server starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kgbuild.qa.models import Answer, AskResult, EntityCard, EntityHit, EvidenceRef

if TYPE_CHECKING:
    from kgbuild.qa.engine import GraphQA, ask, check_question, open_store

__all__ = [
    "Answer",
    "AskResult",
    "EntityCard",
    "EntityHit",
    "EvidenceRef",
    "GraphQA",
    "ask",
    "check_question",
    "open_store",
]

_ENGINE = frozenset({"GraphQA", "ask", "check_question", "open_store"})


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from kgbuild.qa import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'kgbuild.qa' has no attribute {name!r}")
