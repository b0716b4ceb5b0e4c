"""Question answering over the built graph, with evidence (CLI ``kgbuild ask``/``serve``).

Steps: link the question to entities (:mod:`.linking`), gather verbalised facts and
source sentences (:mod:`.contexts`), rank them (:mod:`.ranking`), read answers with the
extractive QA model (:class:`kgbuild.nlp.reader.ExtractiveReader`), or answer list and
count questions from the graph directly (:mod:`.structured`).
"""

from __future__ import annotations

from kgbuild.qa.engine import GraphQA, ask, check_question, open_store
from kgbuild.qa.models import Answer, AskResult, EntityCard, EntityHit, EvidenceRef

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
