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
import shlex
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError, ModelLoadError
from kgbuild.nlp.hf import (
    PEFT_DEPRECATION,
    LoadedModel,
    bf16_supported,
    clear_model_cache,
    model_revision,
    pick_device,
    resolve_model_ref,
)
from kgbuild.nlp.reader import NO_ANSWER_KEY, ExtractiveReader, QaQuery
from kgbuild.nlp.sentence_prior import MANIFEST_KEY, SentencePrior
from kgbuild.readers.squad import Answer, QAExample, load_squad
from kgbuild.training.common import (
    FeatureDataset,
    check_init,
    dir_size,
    fit,
    library_versions,
    load_init_adapter,
    run_lines,
    save_trained,
    sha256_file,
    write_card_json,
)
from kgbuild.training.ner import LORA_TARGET_MODULES
from kgbuild.training.qa_metrics import QaScores, qa_scores
from kgbuild.training.qa_negatives import (
    calibrate_no_answer,
    held_out_unanswerable,
    make_negatives,
    no_answer_rate,
)

__all__ = [
    "QaTrainResult",
    "consensus_answer",
    "evaluate_qa",
    "focus_on_answer",
    "predict_answers",
    "split_by_article",
    "train_qa",
]

logger = logging.getLogger(__name__)


class QaTrainResult(BaseModel):
    """What :func:`train_qa` produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path
    dev: QaScores
    dev_f1_per_epoch: tuple[float, ...]
    epochs_run: float
    steps: int
    train_questions: int
    train_windows: int
    train_losses: tuple[float, ...]
    wall_seconds: float
    cpu_seconds: float
    train_windows_per_second: float
    device: str
    size_bytes: int
    train_negatives: int = 0
    dev_no_answer_rate: float | None = None
    """Percent of the dev articles' generated unanswerable questions answered "no answer"."""


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
    for row, ids in enumerate(encoded["input_ids"]):
        example = examples[int(encoded["overflow_to_sample_mapping"][row])]
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
        feature = {
            "input_ids": list(ids),
            "attention_mask": list(encoded["attention_mask"][row]),
            "start_positions": start_pos,
            "end_positions": end_pos,
        }
        if "token_type_ids" in encoded:
            feature["token_type_ids"] = list(encoded["token_type_ids"][row])
        features.append(feature)
    return FeatureDataset(features)


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


def _write_model_card(out: Path, card: dict[str, Any]) -> None:
    write_card_json(out, card)
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
    text = f"""# Question-answering model: {out.name}

Extractive QA model (start/end span) fine-tuned by `kgbuild train qa` ({card["method"]}).

- Base model: `{card["base"]}` (resolved revision `{card["base_revision"]}`)
- Training data: `{data["train"]["path"]}` ({data["train"]["questions"]} questions in
  {data["train"]["articles"]} articles, {data["train"]["windows"]} windows,
  sha256 `{data["train"]["sha256"]}`)
- Dev data: `{data["dev"]["path"]}` ({data["dev"]["questions"]} questions in
  {data["dev"]["articles"]} held-back articles: {", ".join(data["dev"]["titles"])})
{run}

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
    card_file = init / "model_card.json"
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


def train_qa(
    train: Path,
    dev: Path | None = None,
    *,
    base: str,
    out: Path,
    epochs: float = 4,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 42,
    lora_rank: int | None = 32,
    max_length: int = 256,
    stride: int = 96,
    patience: int = 2,
    max_steps: int = -1,
    dev_articles: int = 4,
    max_train_questions: int | None = None,
    context_sentences: int | None = None,
    init: Path | None = None,
    extra_train: Sequence[Path] = (),
    sentence_prior: SentencePrior | None = None,
    negatives: float = 0.0,
    calibration: Path | None = None,
    calibration_articles: int = 2,
    min_confidence: float = 0.5,
    device: str | None = None,
    bf16: bool | None = None,
    command: str | None = None,
) -> QaTrainResult:
    """Fine-tune an extractive QA model on SQuAD JSON and save it.

    Args:
        train: Training file (SQuAD v1.1 JSON; also CMRC 2018 and DRCD).
        dev: Dev file scored after every epoch; ``None`` holds out ``dev_articles``
            whole articles of the training file (seeded).
        base: Base encoder reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        epochs: Maximum number of epochs (early stopping may end sooner).
        learning_rate: Peak learning rate (linear decay, 6% warm-up).
        batch_size: Windows per training batch.
        seed: Seed for initialisation, the split, shuffling and dropout.
        lora_rank: LoRA rank (alpha = 2 x rank) on every linear layer, the
            ``qa_outputs`` head trained in full; ``None`` (or 0) fine-tunes all weights.
        max_length: Sub-tokens per window (question + context).
        stride: Context sub-tokens shared by consecutive windows.
        patience: Epochs without dev F1 improvement before stopping.
        max_steps: Stop after this many optimisation steps (``-1``: no limit).
        dev_articles: Articles held out when ``dev`` is ``None``.
        max_train_questions: Train on at most this many questions (a seeded sample).
        context_sentences: Train on the answer's sentence and this many sentences
            either side instead of the whole paragraph (faster; dev is always read whole).
        init: A kgbuild QA model folder to continue from instead of a fresh head: its
            LoRA adapter (same rank) or, for a full fine-tune, its weights. It must have
            been trained from ``base``.
        extra_train: More SQuAD JSON files whose questions are added to the training
            questions, never to dev (e.g. from :mod:`kgbuild.training.qa_generation`).
        sentence_prior: A sentence prior the model reads with (recorded in its manifest,
            used for every dev score; the card also gives the final score without it).
        negatives: Unanswerable questions made per answerable training question of
            ``train`` (see :func:`kgbuild.training.qa_negatives.make_negatives`); 0: none.
            The unanswerable questions of ``extra_train`` files are used either way.
        calibration: SQuAD JSON of held-out questions on which the no-answer calibration
            is fitted (unanswerable ones are generated when it has none); default:
            ``calibration_articles`` articles of ``train``, then left out of training.
        calibration_articles: See ``calibration`` (only with ``negatives``).
        min_confidence: The reader's default operating point, stored with the calibration:
            it abstains when no span is at least this likely right.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: bf16 autocast; ``None`` turns it on where the hardware supports it natively.
        command: Command line recorded in the model card (default: ``sys.argv``).

    Returns:
        QaTrainResult: Output folder, dev scores of the re-loaded model, timing.

    Raises:
        InputError: A data file is missing or holds no answered question, or an
            option is out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainerCallback,
        set_seed,
    )

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for path in (train, dev, calibration, *extra_train):
        if path is not None and not path.is_file():
            raise InputError(f"data file {path} does not exist")
    if epochs <= 0 or batch_size <= 0 or learning_rate <= 0 or max_length < 32:
        raise InputError("epochs, batch_size and learning_rate must be > 0, max_length >= 32")
    if not 0 < stride < max_length // 2:
        raise InputError(f"stride must be in (0, {max_length // 2}), got {stride}")
    rank = lora_rank or None
    if init is not None:
        check_init(init, base=base, rank=rank, task="question-answering")
    all_train = list(load_squad(train, strict=False).examples)
    if dev is None:
        train_examples, dev_examples = split_by_article(all_train, dev_articles, seed)
    else:
        train_examples, dev_examples = all_train, list(load_squad(dev, strict=False).examples)
    if init is not None:
        _check_dev_unseen(init, dev if dev is not None else train, dev_examples)
    if negatives < 0:
        raise InputError(f"negatives must be >= 0, got {negatives}")
    calibration_examples: list[QAExample] = []
    if negatives > 0:
        train_examples, calibration_examples = _calibration_split(
            train_examples, calibration, calibration_articles, seed
        )
    train_examples = [e for e in train_examples if e.answers]
    if max_train_questions is not None and len(train_examples) > max_train_questions:
        train_examples = random.Random(seed).sample(train_examples, max_train_questions)
    width = None if context_sentences is None else 2 * context_sentences + 1
    negative_examples = make_negatives(train_examples, negatives, seed=seed, width=width)
    extra_counts: list[int] = []
    extra_meta: list[dict[str, Any]] = []
    for path in extra_train:
        extra = list(load_squad(path, strict=False).examples)
        if not any(e.answers for e in extra):
            raise InputError(f"no answered question in {path}")
        extra_counts.append(len(extra))
        extra_meta.append(_generation_metadata(path) | {"unanswerable": _unanswerable(extra)})
        train_examples.extend(extra)
    if not train_examples or not dev_examples:
        raise InputError(f"no answered question in {train if not train_examples else dev}")
    if context_sentences is not None:
        train_examples = [focus_on_answer(e, context_sentences) for e in train_examples]
    train_examples.extend(negative_examples)

    set_seed(seed)
    target = pick_device(device)
    resolved = resolve_model_ref(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
        # Two outputs (start, end), whatever head the base was saved with.
        model: Any = AutoModelForQuestionAnswering.from_pretrained(
            resolved, num_labels=2, ignore_mismatched_sizes=True
        )
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"base model {base!r}: cannot load it: {e}") from e
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"base model {base!r}: a fast tokenizer is required")
    base_revision = model_revision(resolved, model.config)
    if init is not None and rank is None:
        model = AutoModelForQuestionAnswering.from_pretrained(str(init))
    if rank is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.QUESTION_ANS,
            r=rank,
            lora_alpha=2 * rank,
            lora_dropout=0.1,
            target_modules=list(LORA_TARGET_MODULES),
            modules_to_save=["qa_outputs"],
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
            model = get_peft_model(model, lora)
        if init is not None:
            load_init_adapter(model, init)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    train_data = encode_training_windows(train_examples, tokenizer, max_length, stride)
    logger.info(
        "%d training questions in %d windows, %d dev questions; trainable parameters: %d",
        len(train_examples),
        len(train_data),
        len(dev_examples),
        trainable,
    )
    use_bf16 = bf16_supported(target) if bf16 is None else bf16
    golds = _golds(dev_examples)
    history: list[float] = []
    best: dict[str, Any] = {"f1": -1.0, "state": None}

    eval_seconds = [0.0]

    def dev_f1(current: Any) -> float:
        began = time.perf_counter()
        current.eval()
        loaded = LoadedModel(
            model=current,
            tokenizer=tokenizer,
            id2label={},
            name="training",
            revision="training",
            max_length=max_length,
            device=target,
        )
        reader = ExtractiveReader(
            loaded,
            max_length=max_length,
            stride=stride,
            bf16=use_bf16,
            sentence_prior=sentence_prior or False,
        )
        scores = qa_scores(predict_answers(reader, dev_examples), golds)
        current.train()
        eval_seconds[0] += time.perf_counter() - began
        return scores.f1

    class _EpochEvaluation(TrainerCallback):
        """Score the dev set with the inference reader each epoch; keep the best weights."""

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            current = kwargs["model"]
            f1 = dev_f1(current)
            history.append(f1)
            logger.info("epoch %.0f: dev F1 %.2f", state.epoch or 0, f1)
            if f1 > best["f1"]:
                best["f1"] = f1
                best["state"] = {
                    k: v.detach().clone()
                    for k, v in current.state_dict().items()
                    if "lora_" in k or "qa_outputs" in k or rank is None
                }
            elif len(history) - 1 - history.index(max(history)) >= patience:
                control.should_training_stop = True
            return control

    fitted = fit(
        model,
        tokenizer,
        name="qa",
        train_data=train_data,
        collator=DataCollatorWithPadding(tokenizer),
        callbacks=[_EpochEvaluation()],
        label_names=["start_positions", "end_positions"],
        caller_eval_seconds=lambda: eval_seconds[0],
        device=target,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        bf16=use_bf16,
    )
    model = fitted.model
    if not history:  # max_steps ended training inside the first epoch
        history.append(dev_f1(model))
    elif best["state"] is not None:
        model.load_state_dict(best["state"], strict=False)

    manifest: dict[str, Any] = {
        "base": base,
        "task": "question-answering",
        "max_length": max_length,
        "stride": stride,
    }
    if sentence_prior is not None:
        manifest[MANIFEST_KEY] = sentence_prior.to_manifest()
    if calibration_examples:
        model.eval()
        calibrated = ExtractiveReader(
            _in_memory(model, tokenizer, max_length, target),
            max_length=max_length,
            stride=stride,
            bf16=use_bf16,
            sentence_prior=sentence_prior or False,
        )
        manifest[NO_ANSWER_KEY] = calibrate_no_answer(
            calibrated, calibration_examples, min_confidence=min_confidence
        ) | {
            "data": str(calibration.resolve())
            if calibration
            else f"{calibration_articles} held-out articles of {train.name}"
        }
    save_trained(model, tokenizer, out, lora=rank is not None, manifest=manifest)

    clear_model_cache()
    dev_scores, _ = evaluate_qa(
        str(out), dev_examples, device=str(target), max_length=max_length, stride=stride
    )
    dev_unanswerable = held_out_unanswerable(dev_examples, seed)
    no_answer = None
    always_scores = None
    if NO_ANSWER_KEY in manifest:
        no_answer = no_answer_rate(
            ExtractiveReader(str(out), device=str(target), max_length=max_length, stride=stride),
            dev_unanswerable,
        )
        always_scores = evaluate_qa(
            str(out),
            dev_examples,
            device=str(target),
            max_length=max_length,
            stride=stride,
            abstain=False,
        )[0]
    bare_scores = (
        evaluate_qa(
            str(out),
            dev_examples,
            device=str(target),
            max_length=max_length,
            stride=stride,
            sentence_prior=False,
        )[0]
        if sentence_prior is not None
        else None
    )
    clear_model_cache()

    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    dev_path = dev if dev is not None else train
    card: dict[str, Any] = {
        "task": "question-answering (extractive)",
        "method": f"LoRA r={rank} alpha={2 * rank}" if rank is not None else "full fine-tune",
        "base": base,
        "base_resolved": resolved,
        "base_revision": base_revision,
        "data": {
            "train": {
                "path": str(train.resolve()),
                "sha256": sha256_file(train),
                "questions": len(train_examples),
                "articles": len({e.title for e in train_examples}),
                "windows": len(train_data),
            },
            "extra_train": [
                {
                    "path": str(path.resolve()),
                    "sha256": sha256_file(path),
                    "questions": count,
                    **meta,
                }
                for path, count, meta in zip(extra_train, extra_counts, extra_meta, strict=True)
            ],
            "negatives": {
                "ratio": negatives,
                "generated": len(negative_examples),
                "calibration_questions": len(calibration_examples),
            },
            "dev": {
                "path": str(dev_path.resolve()),
                "sha256": sha256_file(dev_path),
                "questions": len(dev_examples),
                "articles": len({e.title for e in dev_examples}),
                "titles": sorted({e.title for e in dev_examples}),
                "held_out_of_train": dev is None,
            },
        },
        "command": command if command is not None else shlex.join(sys.argv),
        "seed": seed,
        "hyperparameters": {
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "lora_rank": rank,
            "lora_alpha": 2 * rank if rank is not None else None,
            "lora_target_modules": list(LORA_TARGET_MODULES) if rank is not None else None,
            "max_length": max_length,
            "stride": stride,
            "patience": patience,
            "max_steps": max_steps,
            "max_train_questions": max_train_questions,
            "context_sentences": context_sentences,
            "sentence_prior": sentence_prior.to_manifest() if sentence_prior else None,
            "negatives": negatives,
            "init": str(init.resolve()) if init is not None else None,
            "scheduler": "linear, warmup 6%",
            "weight_decay": 0.01,
            "bf16_autocast": use_bf16,
        },
        "trainable_parameters": trainable,
        "epochs_run": fitted.epochs,
        "steps": fitted.steps,
        "dev_f1_per_epoch": history,
        "dev_scores": dev_scores.model_dump(),
        "dev_scores_without_prior": bare_scores.model_dump() if bare_scores else None,
        "dev_scores_never_abstaining": always_scores.model_dump() if always_scores else None,
        "dev_unanswerable": (
            {"questions": len(dev_unanswerable), "no_answer_percent": no_answer}
            if no_answer is not None
            else None
        ),
        "no_answer_calibration": manifest.get(NO_ANSWER_KEY),
        "timing": {
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "train_seconds": fitted.train_seconds,
            "train_windows_per_second": fitted.examples_per_second,
        },
        "device": str(target),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
    _write_model_card(out, card)
    return QaTrainResult(
        out_dir=out,
        dev=dev_scores,
        dev_f1_per_epoch=tuple(history),
        epochs_run=fitted.epochs,
        steps=fitted.steps,
        train_questions=len(train_examples),
        train_windows=len(train_data),
        train_losses=fitted.train_losses,
        wall_seconds=wall,
        cpu_seconds=cpu,
        train_windows_per_second=fitted.examples_per_second,
        device=str(target),
        size_bytes=dir_size(out),
        train_negatives=len(negative_examples),
        dev_no_answer_rate=no_answer,
    )


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
    train_examples: list[QAExample], calibration: Path | None, articles: int, seed: int
) -> tuple[list[QAExample], list[QAExample]]:
    """Training questions, and held-out questions of both kinds to calibrate "no answer"."""
    if calibration is None:
        train_examples, held = split_by_article(train_examples, articles, seed + 1)
        held = [e for e in held if e.answers]
    else:
        held = list(load_squad(calibration, strict=False).examples)
    if not any(e.answers for e in held):
        raise InputError("the calibration questions hold no answered question")
    if all(e.answers for e in held):
        held += make_negatives(held, 1.0, seed=seed + 1)
    return train_examples, held


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
