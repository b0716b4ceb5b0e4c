"""What the QA model can read: the build's script rule, applied to questions and passages.

A build leaves out a sentence in a script its stage's model does not declare
(:func:`kgbuild.lang.script_lang`, :func:`kgbuild.lang.covers`): an English model reads
Chinese as confident nonsense. The reader of ``kgbuild ask`` follows the same rule: a
passage in such a script is not read, and the answer says how many were left out; a
question in such a script is not answered. The check reads each text's script, no model:
English text (ASCII) costs one ``str.isascii``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kgbuild.lang import covers, script_lang
from kgbuild.qa.models import Context

__all__ = ["question_script", "readable", "skipped_notes"]


def readable(
    contexts: Iterable[Context], languages: frozenset[str] | None, skipped: dict[str, str]
) -> list[Context]:
    """The contexts in a script a model of ``languages`` (``None``: any) reads.

    Each one left out is recorded in ``skipped`` (its text: its language), so passages
    left out by several reads of one question (a multi-hop question) count once.
    """
    if languages is None:
        return list(contexts)
    kept: list[Context] = []
    for context in contexts:
        lang = script_lang(context.text)
        if lang is None or covers(languages, lang):
            kept.append(context)
        else:
            skipped[context.text] = lang
    return kept


def skipped_notes(skipped: Mapping[str, str], model: str, languages: frozenset[str]) -> list[str]:
    """One line per language of the passages left out, e.g. "3 passages in zh skipped: ...".

    >>> skipped_notes({"甲。": "zh", "乙。": "zh", "Да.": "ru"}, "qa-en-minilm", frozenset({"en"}))
    ['1 passage in ru skipped: qa-en-minilm reads en', '2 passages in zh skipped: qa-en-minilm reads en']
    """
    counts: dict[str, int] = {}
    for lang in skipped.values():
        counts[lang] = counts.get(lang, 0) + 1
    reads = ", ".join(sorted(languages))
    return [
        f"{n} passage{'' if n == 1 else 's'} in {lang} skipped: {model} reads {reads}"
        for lang, n in sorted(counts.items())
    ]


def question_script(question: str, names: Sequence[tuple[int, int]] = ()) -> str | None:
    """The language the question's script names (:func:`~kgbuild.lang.script_lang`).

    The spans of ``names`` (the entities it was linked to) are left out first: "Where is
    艾克米机器人 based?" asks in English about an entity with a Chinese name.

    >>> question_script("艾克米机器人在哪里？"), question_script("Where is 艾克米机器人 based?", [(9, 15)])
    ('zh', None)
    """
    text = question
    for start, end in names:
        if 0 <= start < end <= len(text):
            text = text[:start] + " " * (end - start) + text[end:]
    return script_lang(text)
