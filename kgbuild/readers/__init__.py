"""Readers for training and evaluation data formats."""

from kgbuild.readers.bmes import read_bmes, read_weibo
from kgbuild.readers.conll import TaggedSentence, iter_conll, read_conll
from kgbuild.readers.docred import (
    DocEntity,
    DocMention,
    DocREDDocument,
    DocRelation,
    DocumentText,
    document_text,
    read_docred,
    read_rel_info,
)
from kgbuild.readers.relations import (
    EntitySpan,
    RelationExample,
    RelationSpan,
    read_conll04,
    read_dygie,
    read_semeval2010,
)
from kgbuild.readers.spans import read_spans, split_words
from kgbuild.readers.squad import Answer, QAExample, SquadReadResult, load_squad, read_squad

__all__ = [
    "Answer",
    "DocEntity",
    "DocMention",
    "DocREDDocument",
    "DocRelation",
    "DocumentText",
    "EntitySpan",
    "QAExample",
    "RelationExample",
    "RelationSpan",
    "SquadReadResult",
    "TaggedSentence",
    "document_text",
    "iter_conll",
    "load_squad",
    "read_bmes",
    "read_conll",
    "read_conll04",
    "read_docred",
    "read_dygie",
    "read_rel_info",
    "read_semeval2010",
    "read_spans",
    "read_squad",
    "read_weibo",
    "split_words",
]
