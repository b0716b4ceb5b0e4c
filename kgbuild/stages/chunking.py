"""Chunking: documents into sentence chunks whose offsets slice the original text.

Sentences come from :mod:`kgbuild.nlp.sentences` (spaCy's rule-based ``sentencizer``,
paragraph by paragraph; a list item or a heading line is a sentence of its own); a
sentence longer than ``max_sentence_chars`` is split at whitespace into several chunks:
text is never dropped. Model-length windows are made later, by the model stage, with
overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

from kgbuild.config import ChunkConfig
from kgbuild.data import Chunk, Document, Span
from kgbuild.ids import stable_id
from kgbuild.nlp.sentences import paragraph_spans, sentence_spans, text_sentence_spans

__all__ = [
    "chunk_document",
    "chunk_documents",
    "paragraph_spans",
    "sentence_spans",
    "text_sentence_spans",
]


def chunk_document(document: Document, config: ChunkConfig | None = None) -> list[Chunk]:
    """Split one document into sentence chunks (offsets into ``document.text``)."""
    config = config or ChunkConfig()
    spans = sentence_spans(
        document.text, document.lang, max_sentence_chars=config.max_sentence_chars
    )
    return [
        Chunk(
            id=stable_id("chk", document.id, start, end, document.content_hash),
            doc_id=document.id,
            index=index,
            span=Span(start=start, end=end),
            text=document.text[start:end],
        )
        for index, (start, end) in enumerate(spans)
    ]


def chunk_documents(
    documents: Sequence[Document], config: ChunkConfig | None = None
) -> list[Chunk]:
    """Chunk several documents, in order."""
    return [chunk for document in documents for chunk in chunk_document(document, config)]
