"""Reader for SQuAD v1.1-style extractive QA JSON (also CMRC 2018 and DRCD).

The file is ``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}]}]}]}]}``. Every answer must sit at
its offset: ``context[start:start + len(text)] == text``.

Misaligned answers (CMRC 2018 has a few): with ``strict=True`` (the default) the
first one raises :class:`~kgbuild.errors.DataFormatError`; with ``strict=False`` they
are skipped, and a question left with no answer is dropped. :func:`load_squad`
returns the counts in a :class:`SquadReadResult`; :func:`read_squad` returns the
examples only and logs a warning with the counts on the ``kgbuild.readers.squad``
logger. A question with an empty ``answers`` list in the file (SQuAD 2.0 style) is
kept with no answers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from kgbuild.errors import DataFormatError
from kgbuild.readers.files import load_json

__all__ = ["Answer", "QAExample", "SquadReadResult", "load_squad", "read_squad"]

logger = logging.getLogger(__name__)


class Answer(BaseModel):
    """One gold answer: its text and character offset in the context."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    start: int


class QAExample(BaseModel):
    """One question over one context, with its gold answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    context: str
    question: str
    answers: tuple[Answer, ...]


class SquadReadResult(BaseModel):
    """What :func:`load_squad` read, and what it skipped (``strict=False`` only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    examples: tuple[QAExample, ...]
    skipped_answers: int = 0
    dropped_questions: int = 0
    first_skipped: str = ""
    """Where the first skipped answer is and what is wrong with it (``""``: none skipped)."""


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing or not a string")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is missing or not a list")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def load_squad(
    path: Path | str, *, strict: bool = True, encoding: str = "utf-8"
) -> SquadReadResult:
    """Read a SQuAD-format file, with counts of what was skipped.

    Args:
        path: The JSON file.
        strict: Raise on a misaligned answer (True) or skip it and count it (False).
        encoding: Its text encoding.

    Returns:
        SquadReadResult: The examples in file order, the number of misaligned answers
        skipped and of questions dropped for having no answer left.

    Raises:
        DataFormatError: Bad JSON (``path:line``), a missing or mistyped field
            (``path: article A, paragraph P[, question 'id']``) or, when strict, a
            misaligned answer (naming the question id).
    """
    path = Path(path)
    root = load_json(path, encoding)
    examples: list[QAExample] = []
    skipped = dropped = 0
    first_skipped = ""
    try:
        articles = _list(_dict(root, "the top level").get("data"), "'data'")
    except ValueError as exc:
        raise DataFormatError(f"{path}: {exc}") from exc
    for a_index, raw_article in enumerate(articles):
        where = f"{path}: article {a_index}"
        try:
            article = _dict(raw_article, "the article")
            title = article.get("title", "")
            title = _str(title, "'title'")
            paragraphs = _list(article.get("paragraphs"), "'paragraphs'")
        except ValueError as exc:
            raise DataFormatError(f"{where}: {exc}") from exc
        for p_index, raw_paragraph in enumerate(paragraphs):
            where = f"{path}: article {a_index}, paragraph {p_index}"
            try:
                paragraph = _dict(raw_paragraph, "the paragraph")
                context = _str(paragraph.get("context"), "'context'")
                qas = _list(paragraph.get("qas"), "'qas'")
            except ValueError as exc:
                raise DataFormatError(f"{where}: {exc}") from exc
            for q_index, raw_qa in enumerate(qas):
                qa_where = f"{where}, question {q_index}"
                try:
                    qa = _dict(raw_qa, "the question")
                    qid = qa.get("id")
                    if isinstance(qid, int) and not isinstance(qid, bool):
                        qid = str(qid)
                    qid = _str(qid, "'id'")
                    qa_where = f"{where}, question {qid!r}"
                    question = _str(qa.get("question"), "'question'")
                    raw_answers = _list(qa.get("answers", []), "'answers'")
                    answers: list[Answer] = []
                    for n, raw_answer in enumerate(raw_answers):
                        answer = _dict(raw_answer, f"answer {n}")
                        text = _str(answer.get("text"), f"answer {n} 'text'")
                        start = answer.get("answer_start")
                        if not isinstance(start, int) or isinstance(start, bool):
                            raise ValueError(f"answer {n} 'answer_start' is not an integer")
                        if start < 0 or context[start : start + len(text)] != text:
                            found = context[max(start, 0) : max(start, 0) + len(text)]
                            problem = (
                                f"answer {n} {text!r} is not at offset {start} of the "
                                f"context (found {found!r})"
                            )
                            if strict:
                                raise ValueError(problem)
                            skipped += 1
                            first_skipped = first_skipped or f"{qa_where}: {problem}"
                            continue
                        answers.append(Answer(text=text, start=start))
                except ValueError as exc:
                    raise DataFormatError(f"{qa_where}: {exc}") from exc
                if raw_answers and not answers:
                    dropped += 1
                    continue
                examples.append(
                    QAExample(
                        id=qid,
                        title=title,
                        context=context,
                        question=question,
                        answers=tuple(answers),
                    )
                )
    return SquadReadResult(
        examples=tuple(examples),
        skipped_answers=skipped,
        dropped_questions=dropped,
        first_skipped=first_skipped,
    )


def read_squad(
    path: Path | str, *, strict: bool = True, encoding: str = "utf-8"
) -> list[QAExample]:
    """Read a SQuAD-format file into QA examples.

    Args:
        path: The JSON file.
        strict: Raise on a misaligned answer (True) or skip it (False); skips are
            logged as one warning (use :func:`load_squad` to get the counts).
        encoding: Its text encoding.

    Returns:
        list[QAExample]: The examples, in file order.

    Raises:
        DataFormatError: The file is malformed (see :func:`load_squad`).
    """
    result = load_squad(path, strict=strict, encoding=encoding)
    if result.skipped_answers:
        logger.warning(
            "%s: skipped %d misaligned answer(s); dropped %d question(s) left without an "
            "answer. The first: %s; 'answer_start' must be the answer's character offset "
            "in the context, from 0",
            path,
            result.skipped_answers,
            result.dropped_questions,
            result.first_skipped,
        )
    return list(result.examples)
