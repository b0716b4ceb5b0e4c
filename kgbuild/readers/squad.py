"""Reader for SQuAD v1.1-style extractive QA JSON (also CMRC 2018 and DRCD).

The file is ``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}]}]}]}]}``. Every answer must sit at
its offset: ``context[start:start + len(text)] == text``.

Misaligned answers (CMRC 2018 has a few): with ``strict=True`` (the default) the
first one raises :class:`~kgbuild.errors.DataFormatError`. With ``strict=False`` an
answer whose text occurs exactly once in the context is moved there (CMRC 2018's are
one character off; the scorers compare texts only, and a unique occurrence leaves no
doubt which span was meant); any other misaligned or empty answer is skipped, and a
question left with no answer is dropped, as is a question whose id repeats an earlier
one's (answers are scored by id; a strict read refuses it). :func:`load_squad` returns
them, by reason, in the :class:`~kgbuild.readers.skips.SkipReport` of a
:class:`SquadReadResult`; :func:`read_squad` returns the examples only and logs the
report's lines as warnings on the ``kgbuild.readers.squad`` logger. A question with an
empty ``answers`` list in the file (SQuAD 2.0 style) is kept with no answers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from kgbuild.errors import DataFormatError
from kgbuild.readers.files import load_json
from kgbuild.readers.skips import Skip, SkipReport

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
    report: SkipReport
    """The questions dropped and those kept with an answer realigned or left out."""
    skipped_answers: int = 0
    dropped_questions: int = 0
    realigned_answers: int = 0
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
        strict: Raise on a misaligned or empty answer (True), or realign it when its
            text occurs once in the context and else skip it, reporting both (False).
        encoding: Its text encoding.

    Returns:
        SquadReadResult: The examples in file order, the number of answers realigned
        and skipped and of questions dropped for having no answer left, and the report
        of them by reason and question id.

    Raises:
        DataFormatError: Bad JSON (``path:line``), a missing or mistyped field
            (``path: article A, paragraph P[, question 'id']``) or, when strict, a
            misaligned answer (naming the question id).
    """
    path = Path(path)
    root = load_json(path, encoding)
    examples: list[QAExample] = []
    skipped = dropped = realigned = total = 0
    first_skipped = ""
    dropped_ids: list[Skip] = []
    changed: list[Skip] = []
    seen: dict[str, str] = {}
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
                    faults: list[Skip] = []
                    for n, raw_answer in enumerate(raw_answers):
                        answer = _dict(raw_answer, f"answer {n}")
                        text = _str(answer.get("text"), f"answer {n} 'text'")
                        start = answer.get("answer_start")
                        if not isinstance(start, int) or isinstance(start, bool):
                            raise ValueError(f"answer {n} 'answer_start' is not an integer")
                        fault = _misalignment(context, text, start)
                        if fault is None:
                            answers.append(Answer(text=text, start=start))
                            continue
                        reason, problem = fault
                        problem = f"answer {n} {problem}"
                        if strict:
                            raise ValueError(problem)
                        moved = context.find(text) if reason == _ONCE_ELSEWHERE else -1
                        if moved >= 0:
                            realigned += 1
                            detail = f"answer {n} {text!r} moved from offset {start} to {moved}"
                            changed.append(Skip(qid, _REALIGNED, detail))
                            answers.append(Answer(text=text, start=moved))
                            continue
                        skipped += 1
                        first_skipped = first_skipped or f"{qa_where}: {problem}"
                        faults.append(Skip(qid, reason, problem))
                except ValueError as exc:
                    raise DataFormatError(f"{qa_where}: {exc}") from exc
                total += 1
                if qid in seen:
                    if strict:
                        raise DataFormatError(f"{qa_where}: {_DUPLICATE} ({seen[qid]})")
                    dropped += 1
                    dropped_ids.append(Skip(qid, _DUPLICATE, seen[qid]))
                    continue
                seen[qid] = f"first at article {a_index}, paragraph {p_index}"
                if raw_answers and not answers:
                    dropped += 1
                    dropped_ids.append(faults[0])
                    continue
                changed.extend(
                    Skip(f.id, f"one of its answers left out, {f.reason}", f.detail) for f in faults
                )
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
        report=SkipReport.of(f"questions in {path.name}", total, dropped_ids, changed),
        skipped_answers=skipped,
        dropped_questions=dropped,
        realigned_answers=realigned,
        first_skipped=first_skipped,
    )


_ONCE_ELSEWHERE = "answer_start is off, and the answer text occurs once in the context"
_REALIGNED = "answer_start moved to the answer text's only occurrence in the context"
_DUPLICATE = "its id repeats an earlier question's (answers are scored by id)"


def _misalignment(context: str, text: str, start: int) -> tuple[str, str] | None:
    """Why an answer is not at its offset, as (reason, details); ``None`` when it is."""
    if not text.strip():
        return "the answer text is empty", f"{text!r} at offset {start} is empty"
    if start >= 0 and context[start : start + len(text)] == text:
        return None
    found = context[max(start, 0) : max(start, 0) + len(text)]
    where = f"{text!r} is not at offset {start} of the context (found {found!r})"
    if start < 0 or start + len(text) > len(context):
        return "answer_start is outside the context", where
    count = context.count(text)
    if count == 0:
        return "the answer text is not in the context", where
    if count == 1:
        return _ONCE_ELSEWHERE, f"{where}; it is at offset {context.find(text)}"
    return (
        "the answer text is not at answer_start, and occurs more than once in the context",
        f"{where}; it occurs {count} times",
    )


def read_squad(
    path: Path | str, *, strict: bool = True, encoding: str = "utf-8"
) -> list[QAExample]:
    """Read a SQuAD-format file into QA examples.

    Args:
        path: The JSON file.
        strict: Raise on a misaligned answer (True) or realign or skip it (False);
            skips are logged as warnings, one per reason (use :func:`load_squad` to
            get the report).
        encoding: Its text encoding.

    Returns:
        list[QAExample]: The examples, in file order.

    Raises:
        DataFormatError: The file is malformed (see :func:`load_squad`).
    """
    result = load_squad(path, strict=strict, encoding=encoding)
    result.report.log(logger)
    return list(result.examples)
