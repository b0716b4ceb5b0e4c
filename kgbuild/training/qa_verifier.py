"""A verified QA model: one model's answers, vetted by another's "no answer" margin.

A reader trained without negatives reads answerable questions best but never abstains; a
model trained with generated unanswerable questions (``kgbuild train qa --negatives``)
knows when a passage holds no answer but reads spans less well. ``kgbuild train
qa-verifier`` pairs them (:class:`kgbuild.nlp.reader.VerifiedModel`): the reader answers,
unless the verifier's best span fails to beat its ``[CLS]`` score by ``min_margin``.

The margin is chosen on articles of a SQuAD-format file other than the ones held back for
scoring (``--held-out-articles``, as ``kgbuild train qa --dev-articles`` holds them back):
the smallest margin at which the verifier says "no answer" to ``no_answer_rate`` of the
unanswerable questions generated from those articles (each question over another
paragraph of its article, see :func:`kgbuild.training.qa_negatives.held_out_unanswerable`).
Only the verifier's margins on unanswerable questions decide it; the reader's F1 on the
same articles' answerable questions is reported beside it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgbuild.errors import InputError
from kgbuild.nlp.hf import load_question_answerer
from kgbuild.nlp.reader import VERIFIED_FORMAT, ExtractiveReader, VerifiedModel
from kgbuild.readers.squad import QAExample, load_squad
from kgbuild.training.common import MODEL_CARD_FILE, make_output_folder, write_card_json

__all__ = ["VerifierChoice", "build_verified_model", "margin_for_rate", "selection_articles"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifierChoice:
    """What ``kgbuild train qa-verifier`` wrote and measured on its selection articles."""

    out_dir: Path
    min_margin: float
    articles: tuple[str, ...]
    unanswerable: int
    no_answer_percent: float
    answerable: int
    answerable_f1: float
    skipped: tuple[str, ...] = ()
    """One line per reason questions of the data file were left out (or realigned)."""


def margin_for_rate(margins: Sequence[float], rate: float) -> float:
    """The smallest margin below which at least ``rate`` of ``margins`` fall.

    A question whose verifier margin is under it gets "no answer"; every margin at or
    above the ``ceil(rate * n)``-th smallest is kept.

    >>> margin_for_rate([-3.0, -1.0, 0.5, 2.0], 0.5) > -1.0
    True
    >>> margin_for_rate([-3.0, -1.0, 0.5, 2.0], 0.5) < 0.5
    True
    """
    if not margins:
        raise InputError("no unanswerable questions to choose the verifier's margin on")
    if not 0.0 < rate < 1.0:
        raise InputError(f"no_answer_rate must be between 0 and 1 (exclusive), got {rate}")
    ordered = sorted(margins)
    count = max(1, math.ceil(rate * len(ordered)))
    return math.nextafter(ordered[count - 1], math.inf)


def selection_articles(
    examples: Sequence[QAExample],
    *,
    held_out_articles: int,
    seed: int,
    articles: int,
    article_seed: int,
) -> list[QAExample]:
    """The questions of ``articles`` articles drawn (``article_seed``) from those not held out.

    ``held_out_articles`` and ``seed`` are the split of ``kgbuild train qa --dev-articles``
    (:func:`kgbuild.training.qa.split_by_article`): those articles are never drawn.
    """
    from kgbuild.training.qa import split_by_article

    rest = list(examples)
    if held_out_articles:
        rest, _ = split_by_article(examples, held_out_articles, seed)
    titles = sorted({e.title for e in rest})
    if not 0 < articles <= len(titles):
        raise InputError(
            f"articles must be between 1 and {len(titles)} (the articles not held out), "
            f"got {articles}"
        )
    drawn = set(random.Random(article_seed).sample(titles, articles))
    return [e for e in rest if e.title in drawn]


def _reference(ref: str, out: Path) -> str:
    """How the verified model's manifest names ``ref``: relative to it for a folder."""
    if Path(ref).is_dir():
        return os.path.relpath(Path(ref).resolve(), out.resolve())
    return ref


def build_verified_model(
    reader: str,
    verifier: str,
    data: Path,
    out: Path,
    *,
    held_out_articles: int = 4,
    seed: int = 42,
    articles: int = 8,
    article_seed: int = 7,
    no_answer_rate: float = 0.7,
    device: str | None = None,
    command: str = "",
    encoding: str = "utf-8",
) -> VerifierChoice:
    """Choose the verifier's margin on selection articles and write the verified model."""
    from kgbuild.training.qa import evaluate_qa
    from kgbuild.training.qa_negatives import best_spans, held_out_unanswerable_reported

    for role, ref in (("reader", reader), ("verifier", verifier)):
        if VerifiedModel.from_folder(ref) is not None:
            raise InputError(
                f"the {role} {ref} is itself a verified model: name a QA model folder or hub id"
            )
    make_output_folder(out)
    if any(out.iterdir()) and VerifiedModel.from_folder(str(out)) is None:
        raise InputError(
            f"{out} already holds files that are not a verified model: choose a new folder "
            "(its kgbuild_model.json would be replaced)"
        )
    read = load_squad(data, strict=False, encoding=encoding)
    read.report.log(logger)
    examples = list(read.examples)
    read.report.require_some(len(examples), f"questions in {data}")
    chosen = selection_articles(
        examples,
        held_out_articles=held_out_articles,
        seed=seed,
        articles=articles,
        article_seed=article_seed,
    )
    answerable = [e for e in chosen if e.answers]
    read.report.require_some(len(answerable), "answerable questions in the selection articles")
    unanswerable, shortfall = held_out_unanswerable_reported(answerable, seed)
    shortfall.log(logger)
    reports = (read.report, shortfall)
    vetting = ExtractiveReader(verifier, device=device, abstain=False)
    # a question the verifier finds no span for at all is a "no answer" at any margin
    margins = [-math.inf if b is None else b[1] for b in best_spans(vetting, unanswerable)]
    min_margin = margin_for_rate(margins, no_answer_rate)
    said_no = sum(1 for m in margins if m < min_margin)
    titles = tuple(sorted({e.title for e in chosen}))
    loaded = load_question_answerer(reader, device=device)
    manifest: dict[str, Any] = {
        "format": VERIFIED_FORMAT,
        "task": "qa",
        "reader": _reference(reader, out),
        "verifier": _reference(verifier, out),
        "min_margin": min_margin,
    }
    if "languages" in loaded.manifest:
        manifest["languages"] = loaded.manifest["languages"]
    (out / "kgbuild_model.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    scores, _ = evaluate_qa(str(out), answerable, device=device)
    choice = VerifierChoice(
        out_dir=out,
        min_margin=min_margin,
        articles=titles,
        unanswerable=len(unanswerable),
        no_answer_percent=100.0 * said_no / len(unanswerable),
        answerable=len(answerable),
        answerable_f1=scores.f1,
        skipped=tuple(line for report in reports for line in report.lines()),
    )
    card = {
        **manifest,
        "reader_revision": loaded.revision,
        "verifier_revision": vetting.revision,
        "selection": {
            "data": str(data),
            "held_out_articles": held_out_articles,
            "seed": seed,
            "articles": list(titles),
            "article_seed": article_seed,
            "no_answer_rate": no_answer_rate,
            "unanswerable": choice.unanswerable,
            "no_answer_percent": choice.no_answer_percent,
            "answerable": choice.answerable,
            "answerable_f1": choice.answerable_f1,
            "skipped": [report.to_json() for report in reports],
        },
        "command": command,
    }
    write_card_json(out, card)
    (out / "README.md").write_text(_readme(card, out.name), "utf-8")
    return choice


def _readme(card: dict[str, Any], name: str) -> str:
    selection = card["selection"]
    articles = ", ".join(selection["articles"])
    return f"""# Verified question-answering model: {name}

Answers come from the reader `{card["reader"]}` (revision `{card["reader_revision"]}`); the
verifier `{card["verifier"]}` (revision `{card["verifier_revision"]}`, trained with
unanswerable questions) reads the same question and passage, and the model says "no answer"
when the verifier's best span beats its "no answer" score by less than
**{card["min_margin"]:.3f}** (start + end logits).

- Written by: `{card["command"] or "kgbuild train qa-verifier"}`
- Margin chosen on {len(selection["articles"])} articles of `{selection["data"]}` that the
  {selection["held_out_articles"]} scored articles (seed {selection["seed"]}) are not among:
  {articles}. Rule: the smallest margin at which the verifier says "no answer" to
  {100 * selection["no_answer_rate"]:.0f}% of their {selection["unanswerable"]} generated
  unanswerable questions (each question over another paragraph of its article).
- On those articles: {selection["no_answer_percent"]:.1f}% of the unanswerable questions
  answered "no answer"; answerable F1 {selection["answerable_f1"]:.2f} over
  {selection["answerable"]} questions (the reader and verifier were trained on these
  articles' questions: not a held-out score; score it with `kgbuild evaluate qa
  --held-out-articles {selection["held_out_articles"]}`).

See `{MODEL_CARD_FILE}` for the same facts as JSON.

```python
from kgbuild.nlp.reader import ExtractiveReader
reader = ExtractiveReader("path/to/this/folder")
reader.read("When was Acme founded?", ["Acme was founded in 1999 in Oslo."])  # [] = no answer
```
"""
