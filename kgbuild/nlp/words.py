"""Words for the model stages: spaCy's rule-based tokenizer, offsets kept.

Models trained on CoNLL-style word lists expect "Inc." as one word and the
sentence's final "." as another; spaCy's tokenizer exceptions give that, and
``blank("zh")`` gives one word per character, as character-level Chinese NER expects.
"""

from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language

__all__ = ["MAX_BLOCK_CHARS", "blank_pipeline", "word_spans"]

MAX_BLOCK_CHARS = 100_000


@lru_cache(maxsize=8)
def blank_pipeline(lang: str) -> Language:
    """A cached ``spacy.blank(lang)`` with the ``sentencizer`` added."""
    try:
        nlp = spacy.blank(lang)
    except ImportError:  # a language whose tokenizer needs an extra package
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    nlp.max_length = MAX_BLOCK_CHARS + 1
    return nlp


def word_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each non-space word of ``text``.

    >>> text = "Acme Robotics Inc. hired Ms. Chen."
    >>> [text[s:e] for s, e in word_spans(text, "en")]
    ['Acme', 'Robotics', 'Inc.', 'hired', 'Ms.', 'Chen', '.']
    """
    return [
        (token.idx, token.idx + len(token.text))
        for token in blank_pipeline(lang).tokenizer(text)
        if not token.is_space
    ]
