"""Fine-tuning and evaluating extractive question-answering models (SQuAD JSON).

Training follows the standard SQuAD recipe: question and context are encoded
together, a long context in overlapping windows (``stride``), and every window is
labelled with the token span of the answer, or with ``[CLS]`` when the answer lies
outside it. The model is a standard ``AutoModelForQuestionAnswering``; with LoRA only
the adapter and the ``qa_outputs`` head are trained and saved (a few MB).

The dev set is read after every epoch by :class:`kgbuild.nlp.reader.ExtractiveReader`,
the same code that answers questions at inference time, and scored with the official
SQuAD exact match and F1; the best epoch is kept and training stops early when F1
stops improving. SQuAD dev files are split by article (``--dev-articles``), so the
dev score is on passages the model never saw.

With ``negatives`` (``--negatives RATIO``), unanswerable questions are added, SQuAD 2.0
style (:mod:`kgbuild.training.qa_negatives`): a question over a passage of its article that
does not hold its answer, labelled ``[CLS]``. The saved model then carries a no-answer
calibration fitted on held-out questions of both kinds (``--calibration`` or
``calibration_articles`` articles of the training file, never trained on), with which the
reader abstains; the card scores the dev articles' answerable questions and unanswerable
questions generated from them.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Unpack

import torch

from kgbuild.errors import InputError
from kgbuild.nlp.hf import LoadedModel
from kgbuild.nlp.question_room import too_long_questions
from kgbuild.nlp.reader import NO_ANSWER_KEY, ExtractiveReader, QaQuery
from kgbuild.nlp.sentence_prior import MANIFEST_KEY, SentencePrior
from kgbuild.readers.files import check_data_file
from kgbuild.readers.skips import Skip, SkipReport
from kgbuild.readers.squad import Answer, QAExample, load_squad
from kgbuild.training import recipe
from kgbuild.training.common import (
    LORA_TARGET_MODULES,
    MODEL_CARD_FILE,
    FeatureDataset,
    check_init,
    fit,
    lora_target_modules,
    run_lines,
    sha256_file,
)
from kgbuild.training.qa_metrics import QaScores, qa_scores
from kgbuild.training.qa_negatives import (
    calibrate_no_answer,
    held_out_unanswerable_reported,
    make_negatives_reported,
    no_answer_rate,
)
from kgbuild.training.recipe import Elapsed, Fitted, Run, TrainOptions

__all__ = [
    "QaKeywords",
    "QaOptions",
    "QaTask",
    "QaTrainResult",
    "consensus_answer",
    "evaluate_qa",
    "focus_on_answer",
    "predict_answers",
    "split_by_article",
    "train_qa",
]

logger = logging.getLogger(__name__)


class QaTrainResult(recipe.TrainResult):
    """What :func:`train_qa` produced."""

    dev: QaScores
    dev_f1_per_epoch: tuple[float, ...]
    train_questions: int
    train_windows: int
    train_windows_per_second: float
    train_negatives: int = 0
    dev_no_answer_rate: float | None = None
    """Percent of the dev articles' generated unanswerable questions answered "no answer"."""
    skipped: tuple[str, ...] = ()
    """One line per reason questions were left out of training, dev or calibration, or
    kept with a change (see :class:`~kgbuild.readers.skips.SkipReport`)."""


def split_by_article(
    examples: Sequence[QAExample], dev_articles: int, seed: int
) -> tuple[list[QAExample], list[QAExample]]:
    """Hold out ``dev_articles`` whole articles (by title, seeded) as the dev set."""
    titles = sorted({e.title for e in examples})
    if not 0 < dev_articles < len(titles):
        raise InputError(
            f"dev_articles must be between 1 and {len(titles) - 1} (the data has "
            f"{len(titles)} articles), got {dev_articles}"
        )
    held = set(random.Random(seed).sample(titles, dev_articles))
    return [e for e in examples if e.title not in held], [e for e in examples if e.title in held]


def consensus_answer(example: QAExample) -> Answer:
    """The answer span most annotators gave (the earliest listed among equals).

    SQuAD dev questions carry three annotators' answers and are scored against the
    best-matching one; training on the span most of them agree on teaches the
    boundaries the scorer rewards, where the first listed answer is one person's.
    """
    counts = Counter((a.start, a.text) for a in example.answers)
    return max(example.answers, key=lambda a: counts[(a.start, a.text)])


def focus_on_answer(example: QAExample, sentences: int) -> QAExample:
    """The example with its context cut to the answer's sentence and ``sentences`` either side.

    Short contexts train several times faster and match how the pipeline reads: one
    evidence sentence or verbalised fact at a time. Offsets are shifted to the new context.
    """
    from kgbuild.nlp.sentences import text_sentence_spans

    if not example.answers:
        return example
    spans = text_sentence_spans(example.context)
    start = consensus_answer(example).start
    index = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
    if index is None:
        return example
    first, last = (
        spans[max(0, index - sentences)][0],
        spans[min(len(spans) - 1, index + sentences)][1],
    )
    answers = tuple(
        a.model_copy(update={"start": a.start - first})
        for a in example.answers
        if first <= a.start and a.start + len(a.text) <= last
    )
    if not answers:
        return example
    return example.model_copy(update={"context": example.context[first:last], "answers": answers})


def encode_training_windows(
    examples: Sequence[QAExample], tokenizer: Any, max_length: int, stride: int
) -> FeatureDataset:
    """Tokenise question + context in windows, each labelled with its answer's token span.

    The consensus answer (:func:`consensus_answer`) is the target; a window that does not
    contain it whole is labelled ``(0, 0)`` (``[CLS]``), as in the reference SQuAD recipe.
    """
    return encode_training_windows_reported(examples, tokenizer, max_length, stride)[0]


CUT_BY_WINDOWS = (
    "no window holds its whole answer (longer than --stride allows?), so every window of it "
    "is trained as no answer"
)


TOO_LONG = "the question leaves no more than --stride sub-tokens of --max-length for the context"


def encode_training_windows_reported(
    examples: Sequence[QAExample], tokenizer: Any, max_length: int, stride: int
) -> tuple[FeatureDataset, SkipReport]:
    """:func:`encode_training_windows`, and the questions no window holds the answer of.

    Those are kept, as the reference recipe keeps them, with every window a ``[CLS]``
    target; the report says how many. A question too long to be read with any context
    (:func:`~kgbuild.nlp.question_room.too_long_questions`) is left out, and reported.
    """
    questions = [e.question.strip() for e in examples]
    contexts = [e.context for e in examples]
    long = too_long_questions(tokenizer, questions, contexts, max_length, stride)
    dropped = [Skip(examples[i].id, TOO_LONG, f"{count} sub-tokens") for i, count in long.items()]
    everything = examples
    examples = [e for i, e in enumerate(examples) if i not in long]
    encoded = tokenizer(
        [e.question.strip() for e in examples],
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    features: list[dict[str, Any]] = []
    located: set[int] = set()
    for row, ids in enumerate(encoded["input_ids"]):
        index = int(encoded["overflow_to_sample_mapping"][row])
        example = examples[index]
        sequence_ids = encoded.sequence_ids(row)
        offsets = encoded["offset_mapping"][row]
        start_pos = end_pos = 0
        if example.answers:
            answer = consensus_answer(example)
            first_char, last_char = answer.start, answer.start + len(answer.text)
            context_tokens = [i for i, s in enumerate(sequence_ids) if s == 1]
            if (
                context_tokens
                and offsets[context_tokens[0]][0] <= first_char
                and offsets[context_tokens[-1]][1] >= last_char
            ):
                start_pos = next(i for i in context_tokens if offsets[i][1] > first_char)
                end_pos = next(i for i in reversed(context_tokens) if offsets[i][0] < last_char)
                located.add(index)
        feature = {
            "input_ids": list(ids),
            "attention_mask": list(encoded["attention_mask"][row]),
            "start_positions": start_pos,
            "end_positions": end_pos,
        }
        if "token_type_ids" in encoded:
            feature["token_type_ids"] = list(encoded["token_type_ids"][row])
        features.append(feature)
    cut = [
        Skip(e.id, CUT_BY_WINDOWS, f"answer {consensus_answer(e).text[:40]!r}")
        for i, e in enumerate(examples)
        if e.answers and i not in located
    ]
    report = SkipReport.of("training questions", len(everything), dropped, cut)
    return FeatureDataset(features), report


def predict_answers(
    reader: ExtractiveReader, examples: Sequence[QAExample], *, batch_questions: int = 256
) -> dict[str, str]:
    """Best answer text per question id (``""`` when the context is empty)."""
    predictions: dict[str, str] = {}
    for first in range(0, len(examples), batch_questions):
        chunk = examples[first : first + batch_questions]
        answers = reader.read_batch([QaQuery(e.question, e.context) for e in chunk])
        for example, spans in zip(chunk, answers, strict=True):
            predictions[example.id] = spans[0].text if spans else ""
    return predictions


def _golds(examples: Sequence[QAExample]) -> dict[str, list[str]]:
    return {e.id: [a.text for a in e.answers] for e in examples}


def evaluate_qa(
    model: str | LoadedModel,
    examples: Sequence[QAExample],
    *,
    device: str | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    sentence_prior: SentencePrior | bool = True,
    abstain: bool = True,
    min_confidence: float | None = None,
) -> tuple[QaScores, dict[str, str]]:
    """SQuAD EM/F1 of a QA model over examples, and its predictions by question id.

    Windows and the sentence prior default to what the model was trained with (see
    ExtractiveReader); a model with a no-answer calibration abstains (``""``) unless
    ``abstain`` is off.
    """
    reader = ExtractiveReader(
        model,
        device=device,
        max_length=max_length,
        stride=stride,
        sentence_prior=sentence_prior,
        abstain=abstain,
        min_confidence=min_confidence,
    )
    predictions = predict_answers(reader, examples)
    return qa_scores(predictions, _golds(examples)), predictions


def _write_readme(out: Path, card: dict[str, Any]) -> None:
    data, dev = card["data"], card["dev_scores"]
    prior = card["hyperparameters"].get("sentence_prior")
    bare = card.get("dev_scores_without_prior")
    reading = (
        f"read with the sentence prior of `{prior['encoder']}` (scale {prior['scale']:g}, "
        f"weight {prior['weight']:g})"
        if prior
        else "read without a sentence prior"
    )
    bare_row = (
        f"\n| {bare['exact_match']:.2f} | {bare['f1']:.2f} | {bare['questions']} | "
        "without the sentence prior |"
        if bare
        else ""
    )
    run = run_lines(card, unit="windows", f1_as_fraction=False)
    no_answer = _no_answer_lines(card)
    left_out = "".join(
        f"\n- {line}" for report in data.get("skipped", []) for line in report["lines"]
    )
    if left_out:
        left_out = f"\n\nQuestions left out or changed:\n{left_out}"
    text = f"""# Question-answering model: {out.name}

Extractive QA model (start/end span) fine-tuned by `kgbuild train qa` ({card["method"]}).

- Base model: `{card["base"]}` (resolved revision `{card["base_revision"]}`)
- Training data: `{data["train"]["path"]}` ({data["train"]["questions"]} questions in
  {data["train"]["articles"]} articles, {data["train"]["windows"]} windows,
  sha256 `{data["train"]["sha256"]}`)
- Dev data: `{data["dev"]["path"]}` ({data["dev"]["questions"]} questions in
  {data["dev"]["articles"]} held-back articles: {", ".join(data["dev"]["titles"])})
{run}{left_out}

## Dev scores (SQuAD v1.1 official normalisation, saved model re-loaded)

| exact match | F1 | questions | reading |
|---|---|---|---|
| {dev["exact_match"]:.2f} | {dev["f1"]:.2f} | {dev["questions"]} | {reading} |{bare_row}
{no_answer}
## Use

```python
from kgbuild.nlp.reader import ExtractiveReader
reader = ExtractiveReader("{out}")
reader.read("When was Acme founded?", ["Acme was founded in 1999 in Oslo."])
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _no_answer_lines(card: dict[str, Any]) -> str:
    """The card's lines on negatives, abstention and excluded relation types."""
    lines = []
    negatives = card["data"].get("negatives", {})
    if negatives.get("ratio"):
        lines.append(
            f"\nTrained with {negatives['generated']} generated unanswerable questions "
            f"(ratio {negatives['ratio']:g}, target [CLS])."
        )
    for extra in card["data"].get("extra_train", []):
        if extra.get("excluded_relations"):
            lines.append(
                f"\n`{Path(extra['path']).name}` leaves out questions about the relation "
                f"types {', '.join(extra['excluded_relations'])} (kept for zero-shot "
                "evaluation): the model was never trained on them."
            )
    calibration = card.get("no_answer_calibration") or {}
    if "platt" in calibration:
        lines.append(
            f"\nNo-answer calibration on {calibration['questions']} held-out questions "
            f"({calibration['unanswerable']} unanswerable; {calibration['data']}): Platt "
            f"scale {calibration['platt']['scale']:.4f}, bias {calibration['platt']['bias']:.4f}, "
            f"ECE {calibration['ece']:.4f}; the reader abstains below confidence "
            f"{calibration['min_confidence']:g}."
        )
    unanswerable = card.get("dev_unanswerable")
    always = card.get("dev_scores_never_abstaining")
    if unanswerable:
        lines.append(
            f"\nUnanswerable questions generated from the dev articles: "
            f"{unanswerable['no_answer_percent']:.2f}% of {unanswerable['questions']} answered "
            '"no answer".'
        )
    if always:
        lines.append(f"Answerable dev questions never abstaining: F1 {always['f1']:.2f}.")
    return "\n".join(lines) + ("\n" if lines else "")


def _check_dev_unseen(init: Path, dev_file: Path, dev_examples: Sequence[QAExample]) -> None:
    """Refuse a dev set whose articles the model being continued was trained on.

    Its card names the file it trained on and the articles it held out; a run that
    holds out other articles of the same file would score questions the model has seen.
    """
    card_file = init / MODEL_CARD_FILE
    if not card_file.is_file():
        return
    data = json.loads(card_file.read_text(encoding="utf-8")).get("data", {})
    trained_on = data.get("train", {}).get("sha256")
    if trained_on != sha256_file(dev_file):
        return
    dev_card = data.get("dev", {})
    held_out = set(dev_card.get("titles") or []) if dev_card.get("held_out_of_train") else set()
    seen = sorted({e.title for e in dev_examples} - held_out)
    if seen:
        raise InputError(
            f"init model {init} was trained on {dev_file.name} articles that this run "
            f"scores as dev ({', '.join(seen[:5])}): dev scores would be inflated. Hold out "
            f"the articles it held out ({', '.join(sorted(held_out)) or 'none'}: the same "
            "--dev-articles and --seed) or pass --dev"
        )


@dataclass(frozen=True)
class QaOptions:
    """What a QA run sets beyond :class:`~kgbuild.training.common.TrainOptions`."""

    max_length: int = 256
    """Sub-tokens per window (question + context)."""
    stride: int = 96
    """Context sub-tokens shared by consecutive windows."""
    dev_articles: int = 4
    """Articles held out when there is no dev file."""
    max_train_questions: int | None = None
    """Train on at most this many questions (a seeded sample)."""
    context_sentences: int | None = None
    """Train on the answer's sentence and this many sentences either side instead of the
    whole paragraph (faster; dev is always read whole)."""
    extra_train: tuple[Path, ...] = ()
    """More SQuAD JSON files whose questions are added to the training questions, never
    to dev (e.g. from :mod:`kgbuild.training.qa_generation`)."""
    sentence_prior: SentencePrior | None = None
    """A sentence prior the model reads with (recorded in its manifest, used for every dev
    score; the card also gives the final score without it)."""
    negatives: float = 0.0
    """Unanswerable questions made per answerable training question of ``train`` (see
    :func:`kgbuild.training.qa_negatives.make_negatives`); 0: none. The unanswerable
    questions of ``extra_train`` files are used either way."""
    calibration: Path | None = None
    """SQuAD JSON of held-out questions on which the no-answer calibration is fitted
    (unanswerable ones are generated when it has none); default: ``calibration_articles``
    articles of ``train``, then left out of training (only with ``negatives``)."""
    calibration_articles: int = 2
    """See ``calibration``."""
    min_confidence: float = 0.5
    """The reader's default operating point, stored with the calibration: it abstains
    when no span is at least this likely right."""


class QaKeywords(recipe.TrainKeywords, total=False):
    """:class:`~kgbuild.training.common.TrainOptions` and :class:`QaOptions` as keywords."""

    max_length: int
    stride: int
    dev_articles: int
    max_train_questions: int | None
    context_sentences: int | None
    extra_train: Sequence[Path]
    sentence_prior: SentencePrior | None
    negatives: float
    calibration: Path | None
    calibration_articles: int
    min_confidence: float


class QaTask:
    """The QA task of :func:`kgbuild.training.recipe.train_model` (one run's state)."""

    name = "qa"
    require_fast = True

    @property
    def max_length(self) -> int:
        """Sub-tokens per model input (at most the base model's positions)."""
        return self.qa.max_length

    def __init__(self, train: Path, dev: Path | None, options: TrainOptions, qa: QaOptions) -> None:
        self.train, self.dev, self.options, self.qa = train, dev, options, qa
        self.lora_targets: tuple[str, ...] = LORA_TARGET_MODULES
        self.train_examples: list[QAExample] = []
        self.dev_examples: list[QAExample] = []
        self.calibration_examples: list[QAExample] = []
        self.negative_examples: list[QAExample] = []
        self.extra_card: list[dict[str, Any]] = []
        self.train_windows = 0
        self.no_answer_calibration: dict[str, Any] | None = None
        self.dev_scores = qa_scores({}, {})  # until evaluate()
        self.dev_unanswerable: list[QAExample] = []
        self.no_answer: float | None = None
        self.always_scores: QaScores | None = None
        self.bare_scores: QaScores | None = None
        self.skip_reports: list[SkipReport] = []

    def _read(self, path: Path, role: str) -> list[QAExample]:
        """The questions of a SQuAD file, its skips logged and kept for the card."""
        read = load_squad(path, strict=False, encoding=self.options.encoding)
        self._report(read.report)
        read.report.require_some(len(read.examples), f"{role} questions in {path}")
        return list(read.examples)

    def _report(self, report: SkipReport) -> None:
        if report.skipped or report.changed:
            report.log(logger)
            self.skip_reports.append(report)

    def prepare(self) -> None:
        """Read, split and sample the questions; add negatives and extra files."""
        options, qa, seed = self.options, self.qa, self.options.seed
        for path in (self.train, self.dev, qa.calibration, *qa.extra_train):
            if path is not None:
                check_data_file(path)
        options.check(qa.max_length, least=32)
        if not 0 < qa.stride < qa.max_length // 2:
            raise InputError(
                f"stride {qa.stride} must be above 0 and below half of max_length "
                f"{qa.max_length}: use --stride {max(qa.max_length // 2 - 1, 1)} or less"
            )
        if options.init is not None:
            check_init(
                options.init, base=options.base, rank=options.rank, task="question-answering"
            )
        all_train = self._read(self.train, "training")
        if self.dev is None:
            train_examples, self.dev_examples = split_by_article(all_train, qa.dev_articles, seed)
        else:
            train_examples = all_train
            self.dev_examples = self._read(self.dev, "dev")
        if options.init is not None:
            _check_dev_unseen(options.init, self.dev or self.train, self.dev_examples)
        if qa.negatives < 0:
            raise InputError(f"negatives must be >= 0, got {qa.negatives}")
        if qa.negatives > 0:
            calibration = (
                None if qa.calibration is None else self._read(qa.calibration, "calibration")
            )
            train_examples, self.calibration_examples, reports = _calibration_split(
                train_examples, calibration, qa.calibration_articles, seed
            )
            for report in reports:
                self._report(report)
        unanswerable = [
            Skip(e.id, "it has no answer (use --negatives or --extra-train for unanswerable ones)")
            for e in train_examples
            if not e.answers
        ]
        self._report(
            SkipReport.of(
                f"training questions in {self.train.name}", len(train_examples), unanswerable
            )
        )
        train_examples = [e for e in train_examples if e.answers]
        if qa.max_train_questions is not None and len(train_examples) > qa.max_train_questions:
            train_examples = random.Random(seed).sample(train_examples, qa.max_train_questions)
        width = None if qa.context_sentences is None else 2 * qa.context_sentences + 1
        self.negative_examples, shortfall = make_negatives_reported(
            train_examples, qa.negatives, seed=seed, width=width
        )
        self._report(shortfall)
        for path in qa.extra_train:
            extra = self._read(path, "extra training")
            if not any(e.answers for e in extra):
                raise InputError(f"no answered question in {path}")
            self.extra_card.append(
                {
                    "path": str(path.resolve()),
                    "sha256": sha256_file(path),
                    "questions": len(extra),
                    **_generation_metadata(path),
                    "unanswerable": _unanswerable(extra),
                }
            )
            train_examples.extend(extra)
        if not train_examples or not self.dev_examples:
            raise InputError(
                f"no answered question in {self.train if not train_examples else self.dev}"
                + "".join(f"; {line}" for r in self.skip_reports for line in r.lines())
            )
        if qa.context_sentences is not None:
            train_examples = [focus_on_answer(e, qa.context_sentences) for e in train_examples]
        self.train_examples = [*train_examples, *self.negative_examples]

    def load(self, resolved: str, tokenizer: Any) -> Any:
        """The base encoder with a fresh two-output (start, end) span head."""
        from transformers import AutoModelForQuestionAnswering

        # Two outputs (start, end), whatever head the base was saved with.
        return AutoModelForQuestionAnswering.from_pretrained(
            resolved, num_labels=2, ignore_mismatched_sizes=True
        )

    def adapt(self, model: Any) -> Any:
        """A LoRA adapter (``qa_outputs`` trained in full), or full weights."""
        self.lora_targets = lora_target_modules(model)
        return recipe.with_adapter(
            model,
            self.options,
            task_type="QUESTION_ANS",
            modules_to_save=["qa_outputs"],
        )

    def _reader(self, run: Run, model: Any) -> ExtractiveReader:
        """The inference reader over the model being trained."""
        qa = self.qa
        return ExtractiveReader(
            _in_memory(model, run.tokenizer, qa.max_length, run.device),
            max_length=qa.max_length,
            stride=qa.stride,
            bf16=run.bf16,
            sentence_prior=qa.sentence_prior or False,
        )

    def fit(self, run: Run, model: Any) -> Fitted:
        """Train; the inference reader scores dev each epoch, the best epoch is kept."""
        from transformers import DataCollatorWithPadding

        qa = self.qa
        train_data, cut = encode_training_windows_reported(
            self.train_examples, run.tokenizer, qa.max_length, qa.stride
        )
        self._report(cut)
        self.train_windows = len(train_data)
        logger.info(
            "%d training questions in %d windows, %d dev questions; trainable parameters: %d",
            len(self.train_examples),
            len(train_data),
            len(self.dev_examples),
            run.trainable,
        )
        golds = _golds(self.dev_examples)
        tracker = _BestEpoch(
            lambda current: (
                qa_scores(predict_answers(self._reader(run, current), self.dev_examples), golds).f1
            ),
            patience=self.options.patience,
            keep_all=self.options.rank is None,
        )
        fitted = fit(
            model,
            run.tokenizer,
            self.options,
            name=self.name,
            train_data=train_data,
            collator=DataCollatorWithPadding(run.tokenizer),
            callbacks=[tracker.callback()],
            label_names=["start_positions", "end_positions"],
            caller_eval_seconds=lambda: tracker.eval_seconds,
            device=run.device,
            bf16=run.bf16,
        )
        tracker.finish(fitted.model)
        if self.calibration_examples:
            fitted.model.eval()
            self.no_answer_calibration = calibrate_no_answer(
                self._reader(run, fitted.model),
                self.calibration_examples,
                min_confidence=qa.min_confidence,
            ) | {
                "data": str(qa.calibration.resolve())
                if qa.calibration
                else f"{qa.calibration_articles} held-out articles of {self.train.name}"
            }
        return replace(fitted, dev_f1_per_epoch=tuple(tracker.history))

    def manifest(self, run: Run) -> dict[str, Any]:
        """Base, task, windows, the sentence prior and the no-answer calibration."""
        qa = self.qa
        manifest: dict[str, Any] = {
            "base": self.options.base,
            "task": "question-answering",
            "max_length": qa.max_length,
            "stride": qa.stride,
        }
        if qa.sentence_prior is not None:
            manifest[MANIFEST_KEY] = qa.sentence_prior.to_manifest()
        if self.no_answer_calibration is not None:
            manifest[NO_ANSWER_KEY] = self.no_answer_calibration
        return manifest

    def evaluate(self, run: Run) -> None:
        """SQuAD scores of the saved model on dev (with and without prior, abstaining)."""
        out, qa, examples = str(self.options.out), self.qa, self.dev_examples
        windows: dict[str, Any] = {
            "device": str(run.device),
            "max_length": qa.max_length,
            "stride": qa.stride,
        }
        self.dev_scores = evaluate_qa(out, examples, **windows)[0]
        self.dev_unanswerable, shortfall = held_out_unanswerable_reported(
            examples, self.options.seed
        )
        if self.no_answer_calibration is not None:
            self._report(replace(shortfall, source=f"dev {shortfall.source}"))
        if self.no_answer_calibration is not None:
            reader = ExtractiveReader(out, **windows)
            self.no_answer = no_answer_rate(reader, self.dev_unanswerable)
            self.always_scores = evaluate_qa(out, examples, abstain=False, **windows)[0]
        if qa.sentence_prior is not None:
            self.bare_scores = evaluate_qa(out, examples, sentence_prior=False, **windows)[0]

    def card(self, run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
        """``model_card.json``: data, hyper-parameters, the run and the dev scores."""
        options, qa, train = self.options, self.qa, self.train
        dev_path = self.dev if self.dev is not None else train
        dev_titles = sorted({e.title for e in self.dev_examples})
        return {
            **run.card_head("question-answering (extractive)"),
            "data": {
                "train": {
                    "path": str(train.resolve()),
                    "sha256": sha256_file(train),
                    "questions": len(self.train_examples),
                    "articles": len({e.title for e in self.train_examples}),
                    "windows": self.train_windows,
                },
                "extra_train": self.extra_card,
                "negatives": {
                    "ratio": qa.negatives,
                    "generated": len(self.negative_examples),
                    "calibration_questions": len(self.calibration_examples),
                },
                "skipped": [report.to_json() for report in self.skip_reports],
                "dev": {
                    "path": str(dev_path.resolve()),
                    "sha256": sha256_file(dev_path),
                    "questions": len(self.dev_examples),
                    "articles": len(dev_titles),
                    "titles": dev_titles,
                    "held_out_of_train": self.dev is None,
                },
            },
            "command": options.command_line(),
            "seed": options.seed,
            "hyperparameters": {
                **options.hyperparameters(dropout=False, targets=self.lora_targets),
                "max_length": qa.max_length,
                "stride": qa.stride,
                "patience": options.patience,
                "max_steps": options.max_steps,
                "max_train_questions": qa.max_train_questions,
                "context_sentences": qa.context_sentences,
                "sentence_prior": qa.sentence_prior.to_manifest() if qa.sentence_prior else None,
                "negatives": qa.negatives,
                "init": str(options.init.resolve()) if options.init is not None else None,
                **recipe.schedule_fields(run.bf16),
            },
            "trainable_parameters": run.trainable,
            "epochs_run": fitted.epochs,
            "steps": fitted.steps,
            "dev_f1_per_epoch": list(fitted.dev_f1_per_epoch),
            "dev_scores": self.dev_scores.model_dump(),
            "dev_scores_without_prior": _dumped(self.bare_scores),
            "dev_scores_never_abstaining": _dumped(self.always_scores),
            "dev_unanswerable": (
                {"questions": len(self.dev_unanswerable), "no_answer_percent": self.no_answer}
                if self.no_answer is not None
                else None
            ),
            "no_answer_calibration": self.no_answer_calibration,
            **recipe.card_tail(run, elapsed, fitted, unit="windows"),
        }

    write_readme = staticmethod(_write_readme)

    def result(
        self, run: Run, fitted: Fitted, elapsed: Elapsed, card: dict[str, Any]
    ) -> QaTrainResult:
        """The :class:`QaTrainResult` of the run."""
        return QaTrainResult(
            **recipe.result_fields(run, fitted, elapsed),
            dev=self.dev_scores,
            dev_f1_per_epoch=fitted.dev_f1_per_epoch,
            train_questions=len(self.train_examples),
            train_windows=self.train_windows,
            train_windows_per_second=fitted.examples_per_second,
            train_negatives=len(self.negative_examples),
            dev_no_answer_rate=self.no_answer,
            skipped=tuple(line for report in self.skip_reports for line in report.lines()),
        )


def train_qa(
    train: Path,
    dev: Path | None = None,
    *,
    base: str,
    out: Path,
    **keywords: Unpack[QaKeywords],
) -> QaTrainResult:
    """Fine-tune an extractive QA model on SQuAD JSON and save it.

    With LoRA, the ``qa_outputs`` head is trained in full beside the adapter. Training
    runs up to 4 epochs by default; dev is read by the inference reader after every
    epoch and the best epoch (SQuAD F1) is kept.

    Args:
        train: Training file (SQuAD v1.1 JSON; also CMRC 2018 and DRCD).
        dev: Dev file scored after every epoch; ``None`` holds out ``dev_articles``
            whole articles of the training file (seeded).
        base: Base encoder reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        **keywords: The fields of :class:`~kgbuild.training.common.TrainOptions` and of
            :class:`QaOptions`.

    Returns:
        QaTrainResult: Output folder, dev scores of the re-loaded model, timing.

    Raises:
        InputError: A data file is missing or holds no answered question, or an
            option is out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    given = {**keywords, "extra_train": tuple(keywords.get("extra_train", ()))}
    options, qa = recipe.split_keywords(given, QaOptions, base=base, out=out, epochs=4)
    return recipe.train_model(QaTask(train, dev, options, qa))


def _dumped(scores: QaScores | None) -> dict[str, Any] | None:
    return scores.model_dump() if scores else None


class _BestEpoch:
    """Scores dev with the inference reader each epoch and keeps the best weights.

    ``score`` reads a model (in eval mode) and returns its dev F1; training stops after
    ``patience`` epochs without a gain. Only the adapter and ``qa_outputs`` weights are
    kept, or all of them (``keep_all``) for a full fine-tune.
    """

    def __init__(self, score: Callable[[Any], float], *, patience: int, keep_all: bool) -> None:
        self.score, self.patience, self.keep_all = score, patience, keep_all
        self.history: list[float] = []
        self.best_f1 = -1.0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.eval_seconds = 0.0
        """Time spent scoring (left out of the training speed)."""

    def evaluate(self, model: Any) -> float:
        """Dev F1 of ``model`` (left in training mode)."""
        began = time.perf_counter()
        model.eval()
        f1 = self.score(model)
        model.train()
        self.eval_seconds += time.perf_counter() - began
        return f1

    def on_epoch_end(self, model: Any, epoch: float | None, control: Any) -> None:
        """Score an epoch; keep its weights when best, or stop when patience ran out."""
        f1 = self.evaluate(model)
        self.history.append(f1)
        logger.info("epoch %.0f: dev F1 %.2f", epoch or 0, f1)
        if f1 > self.best_f1:
            self.best_f1 = f1
            self.best_state = {
                k: v.detach().clone()
                for k, v in model.state_dict().items()
                if "lora_" in k or "qa_outputs" in k or self.keep_all
            }
        elif len(self.history) - 1 - self.history.index(max(self.history)) >= self.patience:
            control.should_training_stop = True

    def callback(self) -> Any:
        """The Trainer callback that calls :meth:`on_epoch_end`."""
        from transformers import TrainerCallback

        tracker = self

        class _EpochEvaluation(TrainerCallback):
            def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                tracker.on_epoch_end(kwargs["model"], state.epoch, control)
                return control

        return _EpochEvaluation()

    def finish(self, model: Any) -> None:
        """Put the best epoch's weights into ``model`` (or score it, without an epoch)."""
        if not self.history:  # max_steps ended training inside the first epoch
            self.history.append(self.evaluate(model))
        elif self.best_state is not None:
            model.load_state_dict(self.best_state, strict=False)


def _in_memory(model: Any, tokenizer: Any, max_length: int, device: torch.device) -> LoadedModel:
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        id2label={},
        name="training",
        revision="training",
        max_length=max_length,
        device=device,
    )


def _calibration_split(
    train_examples: list[QAExample],
    calibration: list[QAExample] | None,
    articles: int,
    seed: int,
) -> tuple[list[QAExample], list[QAExample], list[SkipReport]]:
    """Training questions, held-out questions of both kinds to calibrate "no answer", reports.

    The reports count the held-out questions left out or given no unanswerable twin.
    ``calibration``: the calibration file's questions; ``None``: ``articles`` articles of
    the training questions, whose unanswerable questions are replaced by generated ones.
    """
    reports = []
    if calibration is None:
        train_examples, held = split_by_article(train_examples, articles, seed + 1)
        unanswerable = [
            Skip(e.id, "it has no answer (generated unanswerable ones are used)")
            for e in held
            if not e.answers
        ]
        reports.append(SkipReport.of("calibration questions", len(held), unanswerable))
        held = [e for e in held if e.answers]
    else:
        held = list(calibration)
    if not any(e.answers for e in held):
        raise InputError("the calibration questions hold no answered question")
    if all(e.answers for e in held):
        made, shortfall = make_negatives_reported(held, 1.0, seed=seed + 1)
        held += made
        reports.append(replace(shortfall, source=f"calibration {shortfall.source}"))
    return train_examples, held, reports


def _unanswerable(examples: Sequence[QAExample]) -> int:
    return sum(1 for e in examples if not e.answers)


def _generation_metadata(path: Path) -> dict[str, Any]:
    """What ``kgbuild train qa-questions`` recorded in a generated file (``kgbuild`` key)."""
    try:
        root = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    meta = root.get("kgbuild") if isinstance(root, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}
