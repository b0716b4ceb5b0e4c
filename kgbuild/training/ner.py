"""Fine-tuning and evaluating BERT-style token classifiers for NER.

Training uses the Hugging Face ``Trainer``: first-subtoken labels (``-100`` on the
other pieces and on special tokens), dynamic padding, length-grouped batches, one
evaluation per epoch with seqeval entity F1, the best epoch kept and early stopping.
With LoRA only the adapter and the classifier head are saved (fp16), beside the
tokenizer, ``kgbuild_model.json`` and a model card (``model_card.json`` and
``README.md``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, Literal, Unpack

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.config import NerConfig
from kgbuild.errors import InputError, KGBuildError
from kgbuild.models import resolve_task_model
from kgbuild.nlp.align import (
    AggregationStrategy,
    TokenPrediction,
    aggregate_words,
    constrained_label_ids,
)
from kgbuild.nlp.context import (
    context_around,
    pack_sentences,
    special_token_ids,
)
from kgbuild.nlp.hf import load_token_classifier, read_manifest, resize_embeddings
from kgbuild.readers.conll import TaggedSentence, read_conll
from kgbuild.readers.files import check_data_file
from kgbuild.readers.ner_sources import NerSource, parse_source, read_source, unannotated_words
from kgbuild.readers.tag_scheme import SchemeCheck
from kgbuild.training import recipe
from kgbuild.training.common import (
    LORA_TARGET_MODULES,
    FeatureDataset,
    check_init,
    fit,
    input_embedding_name,
    lora_target_modules,
    run_lines,
    sha256_file,
    write_card_json,
)
from kgbuild.training.distill import (
    TEACHER_FEATURE,
    TeacherCollator,
    WordProbabilities,
    distillation_trainer,
    load_teacher,
    teacher_word_probabilities,
)
from kgbuild.training.metrics import NerScores, ner_scores, span_scores
from kgbuild.training.recipe import Elapsed, Fitted, Run, TrainOptions

__all__ = [
    "LORA_TARGET_MODULES",
    "NEW_CHARACTER_MIN_COUNT",
    "NerKeywords",
    "NerOptions",
    "NerTask",
    "NerTrainResult",
    "check_label_map",
    "evaluate_ner",
    "label_list",
    "predict_tags",
    "relabelled",
    "restrict_types",
    "special_token_ids",
    "train_ner",
    "unknown_characters",
    "write_ner_card",
]

logger = logging.getLogger(__name__)

_PREFIX_ORDER = {"B": 0, "I": 1, "M": 2, "E": 3, "S": 4, "L": 5, "U": 6}


class NerTrainResult(recipe.TrainResult):
    """What :func:`train_ner` produced."""

    labels: tuple[str, ...]
    dev: NerScores
    best_dev_f1_during_training: float | None
    train_sentences_per_second: float


def label_list(sentences: Sequence[TaggedSentence]) -> list[str]:
    """Return the sorted tag set: ``"O"`` first, then by entity type and prefix.

    Args:
        sentences: Tagged sentences.

    Returns:
        list[str]: Labels; the index is the class id.
    """
    tags = {tag for sentence in sentences for tag in sentence.tags} - {"O"}
    ordered = sorted(tags, key=lambda t: (t[2:], _PREFIX_ORDER.get(t[0], 9), t))
    return ["O", *ordered]


class _Window(BaseModel):
    """One model window: ids, and where the centre sentence's sub-tokens sit in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_ids: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    """The centre's word of each position (``None``: context or a special token)."""
    sentences: tuple[int, ...] = ()
    """Packed windows (:func:`_packed_windows`): the sentence of each position (-1: none)."""


def _parts(
    ids: Sequence[int], word_ids: Sequence[int | None], room: int
) -> list[tuple[list[int], list[int | None]]]:
    """A sentence's sub-tokens in consecutive parts of at most ``room``, cut between words.

    A sentence that fits is one part. A single word longer than ``room`` keeps its first
    ``room`` sub-tokens (its label is on the first); no word is left out.
    """
    parts: list[tuple[list[int], list[int | None]]] = []
    start, n = 0, len(ids)
    while n - start > room:
        stop = start + room
        cut = next((i for i in range(stop, start, -1) if word_ids[i] != word_ids[i - 1]), None)
        if cut is None:  # one word fills the part: the rest of its pieces are skipped
            cut = next((i for i in range(stop, n) if word_ids[i] != word_ids[start]), n)
            parts.append((list(ids[start:stop]), list(word_ids[start:stop])))
        else:
            parts.append((list(ids[start:cut]), list(word_ids[start:cut])))
        start = cut
    if start < n:
        parts.append((list(ids[start:]), list(word_ids[start:])))
    return parts


def _packed_windows(
    document: Sequence[Sequence[str]],
    tokenizer: Any,
    *,
    max_length: int,
    margin: int | None,
) -> list[_Window]:
    """A document's sentences in windows, as the NER stage reads them.

    With a ``margin`` (a context model), consecutive sentences share a window with at
    least ``margin`` sub-tokens of their neighbours read on each side
    (:func:`kgbuild.nlp.context.pack_sentences`); ``None``: each sentence alone. A
    sentence longer than a window is read whole, in consecutive parts cut between words
    (:func:`_parts`), each labelled in a window of its own.
    """
    first, last = special_token_ids(tokenizer)
    indexed = [i for i, words in enumerate(document) if words]
    if not indexed:
        return []
    encoding = tokenizer(
        [list(document[i]) for i in indexed],
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False,  # a long sentence is cut into parts below, not truncated
    )
    room = max_length - 2
    pieces: list[list[int]] = []
    word_ids: list[list[int | None]] = []
    owner: list[int] = []  # each part's sentence
    for row, sentence in enumerate(indexed):
        for ids, words in _parts(encoding["input_ids"][row], encoding.word_ids(row), room):
            pieces.append(ids)
            word_ids.append(words)
            owner.append(sentence)
    lengths = [len(p) for p in pieces]
    if margin is None:
        groups = [range(row, row + 1) for row in range(len(pieces))]
    else:
        groups = pack_sentences(lengths, room, margin)
    windows = []
    for group in groups:
        size = sum(lengths[row] for row in group)
        before, after = (
            ([], [])
            if margin is None
            else context_around(pieces, group.start, group.stop, room - size)
        )
        outside_before, outside_after = 1 + len(before), 1 + len(after)
        windows.append(
            _Window(
                input_ids=(
                    first,
                    *before,
                    *chain.from_iterable(pieces[r] for r in group),
                    *after,
                    last,
                ),
                word_ids=(
                    *([None] * outside_before),
                    *chain.from_iterable(word_ids[r] for r in group),
                    *([None] * outside_after),
                ),
                sentences=(
                    *([-1] * outside_before),
                    *(owner[r] for r in group for _ in range(lengths[r])),
                    *([-1] * outside_after),
                ),
            )
        )
    return windows


Coverage = Literal["full", "partial", "none"]
"""What a source's gold tags vouch for: every word, all but dates and numbers (a ``partial``
source, :func:`kgbuild.readers.ner_sources.unannotated_words`), nothing (an ``unlabeled`` one)."""


def coverage(source: NerSource, unannotated: bool = True) -> Coverage:
    """The :data:`Coverage` of a source's gold tags.

    ``unannotated``: whether the model learns types that the source does not annotate
    (TIME and NUM from DocRED beside CoNLL). Where it does not (a CoNLL file of the user's
    own types, alone), a partial source's ``O`` on dates and numbers is evidence too.
    """
    if source.unlabeled:
        return "none"
    return "partial" if source.partial and unannotated else "full"


def _encode(
    sources: Sequence[tuple[list[list[TaggedSentence]], Coverage]],
    tokenizer: Any,
    label2id: dict[str, int],
    *,
    max_length: int,
    label_all_subtokens: bool,
    context: bool = False,
    context_margin: int | None = None,
    teachers: Sequence[WordProbabilities | None] = (),
) -> FeatureDataset:
    """Windows of every sentence with labels on the first sub-token of each word.

    ``sources`` are ``(documents, coverage)``: a partial source's ``O`` on dates and
    numbers is masked (:func:`kgbuild.readers.ner_sources.unannotated_words`), every word
    of an unlabeled one (only a teacher's odds train on it). Context
    and special tokens get ``-100``. With ``context``, sentences share windows as the
    NER stage reads them (:func:`_packed_windows`, ``context_margin``). ``teachers``
    (one per source, or none): a teacher's word distributions, put on the first sub-token
    of each word (:data:`kgbuild.training.distill.TEACHER_FEATURE`), masked words included.
    """
    margin = NerConfig().context_margin if context_margin is None else context_margin
    with_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    features: list[dict[str, Any]] = []
    windowed = 0  # sentences longer than a window, read in several
    for source, (documents, covered) in enumerate(sources):
        teacher = teachers[source] if teachers else None
        for doc_index, document in enumerate(documents):
            windows = _packed_windows(
                [s.tokens for s in document],
                tokenizer,
                max_length=max_length,
                margin=margin if context else None,
            )
            parts = Counter(i for window in windows for i in set(window.sentences) if i >= 0)
            windowed += sum(1 for count in parts.values() if count > 1)
            masks = [
                unannotated_words(sentence)
                if covered == "partial"
                else (covered == "none",) * len(sentence.tags)
                for sentence in document
            ]
            for window in windows:
                labels: list[int] = []
                soft = None
                if teacher is not None:
                    soft = np.zeros((len(window.input_ids), len(label2id)), dtype=np.float16)
                previous: tuple[int, int] | None = None
                for position, (index, word_id) in enumerate(
                    zip(window.sentences, window.word_ids, strict=True)
                ):
                    if word_id is None or index < 0:
                        labels.append(-100)
                        continue
                    tag = document[index].tags[word_id]
                    first = (index, word_id) != previous
                    if soft is not None and teacher is not None and first:
                        soft[position] = teacher[doc_index][index][word_id]
                    if masks[index][word_id]:
                        labels.append(-100)
                    elif first:
                        labels.append(label2id[tag])
                    elif label_all_subtokens:
                        inside = f"I-{tag[2:]}" if tag.startswith("B-") else tag
                        labels.append(label2id.get(inside, label2id[tag]))
                    else:
                        labels.append(-100)
                    previous = (index, word_id)
                feature: dict[str, Any] = {
                    "input_ids": list(window.input_ids),
                    "attention_mask": [1] * len(window.input_ids),
                    "labels": labels,
                }
                if with_types:
                    feature["token_type_ids"] = [0] * len(window.input_ids)
                if soft is not None:
                    feature[TEACHER_FEATURE] = soft
                features.append(feature)
    if windowed:
        logger.info(
            "%d sentences are longer than max_length %d (special tokens included): each is "
            "read whole, in parts cut between words",
            windowed,
            max_length,
        )
    return FeatureDataset(features)


def restrict_types(tags: Sequence[str], types: frozenset[str] | None) -> list[str]:
    """Tags of entity types outside ``types`` turned to ``O`` (``None``: keep all)."""
    if types is None:
        return list(tags)
    return [tag if tag == "O" or tag[2:] in types else "O" for tag in tags]


def _init_labels(init: Path, labels: list[str]) -> list[str]:
    """The labels of the ``init`` model when the data's are among them, else the data's.

    A small corpus to continue a model on need not hold every label of its head (no
    ``I-MISC``, no MISC at all): the head keeps its rows. Other labels are refused by
    :func:`~kgbuild.training.common.check_init`.
    """
    return _labels_among(read_manifest(init, str(init)).get("labels"), labels)


def _teacher_labels(teacher: str, labels: list[str]) -> list[str]:
    """The labels of a local kgbuild ``teacher`` when the data's are among them, else the data's.

    A corpus of one's own need not hold every label the teacher predicts (no NUM in it):
    the student learns the teacher's odds over all of them, as distillation needs. A
    teacher whose labels cannot be read here (a Hub id) is checked once it is loaded.
    """
    from kgbuild.nlp.hf import KGBUILD_MODEL_FILE, resolve_model_ref

    try:
        path = Path(resolve_model_ref(resolve_task_model("ner", teacher))) / KGBUILD_MODEL_FILE
        known = json.loads(path.read_text(encoding="utf-8")).get("labels")
    except (OSError, ValueError, KGBuildError):
        return labels
    return _labels_among(known, labels)


def _labels_among(known: object, labels: list[str]) -> list[str]:
    """A model's ``known`` labels (from its manifest) when ``labels`` are among them."""
    if isinstance(known, list) and set(labels) <= set(known):
        return [str(label) for label in known]
    return labels


def _data_types(documents: Sequence[Sequence[TaggedSentence]]) -> frozenset[str]:
    return frozenset(
        tag[2:] for document in documents for s in document for tag in s.tags if tag != "O"
    )


def _check_dev_types(
    sources: Sequence[NerSource],
    dev_docs: Sequence[Sequence[Sequence[TaggedSentence]]],
    learned: frozenset[str],
) -> None:
    """Refuse dev data with an entity type the model never learns (no training example).

    Such a type was trained on no example, so its head row is noise and its dev score
    means nothing; mostly it is a typo or another tag set (``MISC`` vs ``OTHER``).

    Raises:
        InputError: Names the dev source and the types.
    """
    for source, documents in zip(sources, dev_docs, strict=True):
        missing = sorted(_data_types(documents) - learned)
        if missing:
            raise InputError(
                f"{source}: dev entity types {', '.join(missing)} appear in no training "
                f"data (it has {', '.join(sorted(learned)) or 'none'}): add examples of "
                "them to --train, or remove those tags from the dev data"
            )


def _check_one_scheme(
    sources: Sequence[NerSource],
    docs: Sequence[Sequence[Sequence[TaggedSentence]]],
    model: tuple[str, Sequence[str]] | None = None,
) -> None:
    """Refuse sources that tag in different schemes (an IOBES file beside a BIO one).

    Each file keeps to one scheme (its reader checks); read together, ``S-PER`` from one
    and a one-word ``B-PER`` from another would train two labels for one kind of entity.
    ``model``: the name and labels of a model the run continues or learns from, whose
    head the data then trains (an IOBES model's ``S-PER`` beside the data's ``B-PER``).

    Raises:
        DataFormatError: Names both places (source, document, sentence, word; or the
            model) and tags.
    """
    check = SchemeCheck("the training and dev data")
    if model is not None:
        name, labels = model
        for label in labels:
            check.add([label], partial(_model_place, name))
    for source, documents in zip(sources, docs, strict=True):
        if source.unlabeled:
            continue
        for d, document in enumerate(documents, start=1):
            for s, sentence in enumerate(document, start=1):
                check.add(sentence.tags, partial(_place, f"{source}: document {d} sentence {s}"))


def _place(sentence: str, index: int) -> str:
    return f"{sentence} word {index + 1}"


def _model_place(name: str, index: int) -> str:
    del index  # one label at a time
    return f"model {name}"


def _scores_table(scores: NerScores) -> str:
    rows = ["| type | precision | recall | F1 | gold | predicted |", "|---|---|---|---|---|---|"]
    items = [*scores.per_type.items(), ("**micro**", scores.micro)]
    for name, prf in items:
        rows.append(
            f"| {name} | {100 * prf.precision:.2f} | {100 * prf.recall:.2f} | "
            f"{100 * prf.f1:.2f} | {prf.support} | {prf.predicted} |"
        )
    return "\n".join(rows)


def _data_lines(entries: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  - `{e['source']}` ({e['sentences']} sentences, sha256 `{e['sha256']}`"
        + ("; O on dates and numbers masked" if e["masked_unannotated_dates_numbers"] else "")
        + ("; unlabeled: the teacher's odds only" if e.get("unlabeled") else "")
        + ")"
        for e in entries
    )


def _results_section(results: dict[str, Any]) -> str:
    """The card's ``results``: scores measured after training, each with what it was scored on."""
    if not results:
        return ""
    parts = ["## Results (measured after training)\n"]
    for name, result in results.items():
        parts.append(f"### {name}\n\n{result.get('note', '')}\n")
        if "scores" in result:
            parts.append(_scores_table(NerScores.model_validate(result["scores"])) + "\n")
        for key, value in result.items():
            if key not in ("note", "scores"):
                parts.append(f"- {key}: {value}")
        parts.append("")
    return "\n".join(parts)


def write_ner_card(out: Path, card: dict[str, Any]) -> None:
    """(Re)write a NER model's card, ``model_card.json`` and ``README.md``, from ``card``."""
    write_card_json(out, card)
    _write_readme(out, card)


def _write_readme(out: Path, card: dict[str, Any]) -> None:
    dev = NerScores.model_validate(card["dev_scores"])
    by_source = {
        k: NerScores.model_validate(v) for k, v in card.get("dev_scores_by_source", {}).items()
    }
    data = card["data"]
    run = run_lines(card, unit="sentences", f1_as_fraction=True)
    per_source = "\n".join(
        f"\n### `{name}`\n\n{_scores_table(scores)}" for name, scores in by_source.items()
    )
    text = f"""# NER model: {out.name}

Token classifier fine-tuned by `kgbuild train ner` ({card["method"]}).

- Base model: `{card["base"]}` (resolved revision `{card["base_revision"]}`)
- Labels ({len(card["labels"])}): {", ".join(f"`{label}`" for label in card["labels"])}
- Reads document context: {
        "yes (neighbouring sentences; only the centre labelled)"
        if card["hyperparameters"].get("context")
        else "no"
    }
- Training data:
{_data_lines(data["train"])}
- Dev data:
{_data_lines(data["dev"])}
{run}

## Dev scores (entity level, seqeval default / conlleval, saved model re-loaded)

Each dev source is scored on the entity types it annotates.

{_scores_table(dev)}
{per_source}

{_results_section(card.get("results", {}))}
## Use

```python
from kgbuild.nlp.hf import load_token_classifier
loaded = load_token_classifier("{out}")
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


NER_FORMATS = ("conll", "bmes", "weibo", "spans", "conll04")
"""Training data formats: CoNLL BIO columns, character BMES (Chinese), Weibo
``char+segment`` BIO, JSON(L) text with character spans, and the entities of CoNLL04
JSON (types renamed to the pipeline's ``PER``/``ORG``/``LOC``/``MISC``, as the relation
models expect)."""


def read_tagged(path: Path, data_format: str) -> list[TaggedSentence]:
    """Read a NER training file in one of :data:`NER_FORMATS` (tags come back as BIO)."""
    from kgbuild.readers.bmes import read_bmes, read_weibo
    from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, read_conll04_tags
    from kgbuild.readers.spans import read_spans

    readers: dict[str, Callable[[Path], list[TaggedSentence]]] = {
        "conll": read_conll,
        "bmes": read_bmes,
        "weibo": read_weibo,
        "spans": read_spans,
        "conll04": lambda file: read_conll04_tags(file, CONLL04_ENTITY_TYPES),
    }
    if data_format not in readers:
        raise ValueError(f"unknown NER data format {data_format!r}; use one of {NER_FORMATS}")
    return readers[data_format](path)


def _sources(data: Path | Sequence[NerSource], data_format: str) -> list[NerSource]:
    if isinstance(data, Path):
        return [parse_source(str(data), data_format)]
    if not data:
        raise InputError("no data source given")
    return list(data)


NerData = Path | Sequence[NerSource]
"""NER data: a file (in ``data_format``) or sources, read together."""


@dataclass(frozen=True)
class NerOptions:
    """What a NER run sets beyond :class:`~kgbuild.training.common.TrainOptions`."""

    max_length: int = 128
    """Sub-tokens per window, special tokens included (a longer sentence is read in parts)."""
    label_all_subtokens: bool = False
    """Train on every sub-token (continuation pieces get the ``I-`` label) instead of on
    first sub-tokens only."""
    data_format: str = "conll"
    """Format of ``train`` and ``dev`` given as files, one of :data:`NER_FORMATS`."""
    context: bool = False
    """Read each sentence with its document's neighbouring sentences (only the centre
    labelled, :mod:`kgbuild.nlp.context`); recorded in the model's manifest so that
    inference reads the same way. Consecutive sentences share a window as the NER stage
    packs them."""
    context_margin: int | None = None
    """Sub-tokens of context kept on each side of a window's labelled sentences
    (``ner.context_margin``; ``None``: its default)."""
    attention_dropout: float = 0.0
    """Dropout on attention probabilities. 0 by default: on CPU, attention with dropout
    leaves the fused kernel and a step is about 4x slower."""
    teacher: str | None = None
    """A NER model with the same labels whose word-level label odds the model also learns
    (knowledge distillation, :mod:`kgbuild.training.distill`); ``None``: gold labels only."""
    teacher_weight: float = 0.5
    """Share of the teacher's term in the loss (``0..1``)."""
    temperature: float = 2.0
    """Softens both the teacher's and the model's odds in the teacher's term."""
    label_map: Mapping[str, str] = field(default_factory=dict)
    """Entity types renamed as the data is read (``{"NAME": "PER"}``); ``O`` drops a type
    (its words become ``O``). Every key must be a type some source has."""
    add_characters: bool = False
    """Add the training data's characters that the base tokenizer reads as ``[UNK]`` (each
    seen at least :data:`NEW_CHARACTER_MIN_COUNT` times) to its vocabulary and train their
    embedding rows (saved with the adapter): Chinese over an English base's vocabulary."""


NEW_CHARACTER_MIN_COUNT = 2
"""Occurrences in the training data a character needs to get its own token
(:attr:`NerOptions.add_characters`); rarer ones stay ``[UNK]``."""


class NerKeywords(recipe.TrainKeywords, total=False):
    """:class:`~kgbuild.training.common.TrainOptions` and :class:`NerOptions` as keywords."""

    max_length: int
    label_all_subtokens: bool
    data_format: str
    context: bool
    context_margin: int | None
    attention_dropout: float
    teacher: str | None
    teacher_weight: float
    temperature: float
    label_map: Mapping[str, str]
    add_characters: bool


class NerTask:
    """The NER task of :func:`kgbuild.training.recipe.train_model` (one run's state)."""

    name = "ner"
    require_fast = True

    @property
    def max_length(self) -> int:
        """Sub-tokens per model input (at most the base model's positions)."""
        return self.ner.max_length

    def __init__(
        self, train: NerData, dev: NerData, options: TrainOptions, ner: NerOptions
    ) -> None:
        self.options, self.ner = options, ner
        self.lora_targets: tuple[str, ...] = LORA_TARGET_MODULES
        self.train_spec, self.dev_spec = train, dev
        self.train_sources: list[NerSource] = []
        self.dev_sources: list[NerSource] = []
        self.train_docs: list[list[list[TaggedSentence]]] = []
        self.dev_docs: list[list[list[TaggedSentence]]] = []
        self.labels: list[str] = []
        self.masked: list[bool] = []
        """Per training source: whether its ``O`` on dates and numbers is masked."""
        self.dev_scores = span_scores(set(), set())  # until evaluate()
        self.dev_by_source: dict[str, NerScores] = {}
        self.teacher_card: dict[str, Any] | None = None
        """The teacher, its revision and the distillation settings (once it has read)."""
        self.new_token_ids: list[int] = []
        """Ids of the characters added to the tokenizer (``add_characters``)."""
        self.vocabulary = 0
        """The tokenizer's size once characters are added (0: none added)."""

    def prepare(self) -> None:
        """Read the sources, check the options, collect the labels, check ``init``."""
        options, ner = self.options, self.ner
        self.train_sources = _sources(self.train_spec, ner.data_format)
        self.dev_sources = _sources(self.dev_spec, ner.data_format)
        options.check(ner.max_length, least=8)
        if not 0.0 <= ner.teacher_weight <= 1.0 or ner.temperature <= 0:
            raise InputError("teacher_weight must be within 0..1 and temperature > 0")
        unlabeled = [str(s) for s in self.train_sources if s.unlabeled]
        if unlabeled and ner.teacher is None:
            raise InputError(
                f"{', '.join(unlabeled)}: an unlabeled source trains only on a teacher's "
                "odds: add --teacher"
            )
        if any(s.unlabeled for s in self.dev_sources):
            raise InputError("a dev source must have gold tags (fewrel and text have none)")
        if unlabeled and all(s.unlabeled for s in self.train_sources):
            raise InputError("at least one training source must have gold tags (the labels)")
        if options.init is not None and ner.add_characters:
            raise InputError(
                "--add-characters trains new token rows from the base's vocabulary; it "
                "cannot continue an --init model (train from --base instead)"
            )
        self.train_docs = [read_source(source) for source in self.train_sources]
        self.dev_docs = [read_source(source) for source in self.dev_sources]
        if ner.label_map:
            check_label_map(ner.label_map, [*self.train_docs, *self.dev_docs])
            self.train_docs = relabelled(self.train_docs, ner.label_map)
            self.dev_docs = relabelled(self.dev_docs, ner.label_map)
        for source, documents in zip(
            [*self.train_sources, *self.dev_sources],
            [*self.train_docs, *self.dev_docs],
            strict=True,
        ):
            if not any(documents):
                raise InputError(f"no sentences in {source}")
        self.labels = label_list(
            [s for documents in [*self.train_docs, *self.dev_docs] for d in documents for s in d]
        )
        if options.init is None and ner.teacher is not None:
            self.labels = _teacher_labels(ner.teacher, self.labels)
        if options.init is not None:
            self.labels = _init_labels(options.init, self.labels)
        model = options.init if options.init is not None else ner.teacher  # whose head it trains
        _check_one_scheme(
            [*self.train_sources, *self.dev_sources],
            [*self.train_docs, *self.dev_docs],
            None if model is None else (str(model), self.labels),
        )
        if options.init is not None:
            check_init(
                options.init,
                base=options.base,
                rank=options.rank,
                task="token-classification",
                labels=self.labels,
            )
        learned = frozenset().union(*map(_data_types, self.train_docs))
        if options.init is not None or ner.teacher is not None:  # it learns their labels too
            learned |= {label[2:] for label in self.labels if label != "O"}
        _check_dev_types(self.dev_sources, self.dev_docs, learned)
        types = {label[2:] for label in self.labels if label != "O"}
        self.masked = [
            coverage(source, bool(types - _data_types(docs))) == "partial"
            for source, docs in zip(self.train_sources, self.train_docs, strict=True)
        ]

    def load(self, resolved: str, tokenizer: Any) -> Any:
        """The base model with a fresh token-classification head over the labels."""
        from transformers import AutoModelForTokenClassification

        if self.ner.add_characters:
            added = unknown_characters(tokenizer, self.train_docs)
            tokenizer.add_tokens(added)
            self.new_token_ids = [int(i) for i in tokenizer.convert_tokens_to_ids(added)]
            self.vocabulary = len(tokenizer)
            logger.info("added %d characters the base tokenizer read as unknown", len(added))
        return AutoModelForTokenClassification.from_pretrained(
            resolved,
            id2label=dict(enumerate(self.labels)),
            label2id={label: i for i, label in enumerate(self.labels)},
            ignore_mismatched_sizes=True,
            attention_probs_dropout_prob=self.ner.attention_dropout,
        )

    def adapt(self, model: Any) -> Any:
        """A LoRA adapter (the classifier trained in full), or full weights."""
        self.lora_targets = lora_target_modules(model)
        new_rows = None
        if self.new_token_ids:
            resize_embeddings(model, self.vocabulary)
            new_rows = {input_embedding_name(model): self.new_token_ids}
        model = recipe.with_adapter(
            model,
            self.options,
            task_type="TOKEN_CLS",
            modules_to_save=["classifier"],
            trainable_token_indices=new_rows,
        )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        logger.info("trainable parameters: %d of %d", trainable, total)
        return model

    def _encoded(
        self,
        run: Run,
        sources: Sequence[tuple[list[list[TaggedSentence]], Coverage]],
        all_: bool,
        teachers: Sequence[WordProbabilities | None] = (),
    ) -> FeatureDataset:
        return _encode(
            sources,
            run.tokenizer,
            {label: i for i, label in enumerate(self.labels)},
            max_length=self.ner.max_length,
            label_all_subtokens=all_,
            context=self.ner.context,
            context_margin=self.ner.context_margin,
            teachers=teachers,
        )

    def _teacher_odds(self, run: Run) -> list[WordProbabilities | None]:
        """The teacher's word distributions over each training source (none without one)."""
        teacher = self.ner.teacher
        if teacher is None:
            return []
        logger.info("reading the training data with the teacher %s", teacher)
        loaded = load_teacher(teacher, device=str(run.device))
        odds: list[WordProbabilities | None] = [
            teacher_word_probabilities(
                loaded,
                documents,
                self.labels,
                temperature=self.ner.temperature,
                context_margin=self.ner.context_margin,
            )
            for documents in self.train_docs
        ]
        self.teacher_card = {
            "model": teacher,
            "revision": loaded.revision,
            "weight": self.ner.teacher_weight,
            "temperature": self.ner.temperature,
        }
        return odds

    def fit(self, run: Run, model: Any) -> Fitted:
        """Train with the Trainer; dev entity F1 each epoch picks the best epoch."""
        from transformers import DataCollatorForTokenClassification, EarlyStoppingCallback

        train_data = self._encoded(
            run,
            [
                (docs, coverage(source, masked))
                for source, docs, masked in zip(
                    self.train_sources, self.train_docs, self.masked, strict=True
                )
            ],
            self.ner.label_all_subtokens,
            self._teacher_odds(run),
        )
        # Each dev window is scored on its source's types (CoNLL has no TIME to predict);
        # a window holds sentences of one document, so of one source.
        dev_parts = [self._encoded(run, [(docs, "full")], False) for docs in self.dev_docs]
        dev_types = [
            types
            for docs, part in zip(self.dev_docs, dev_parts, strict=True)
            for types in [_data_types(docs)] * len(part)
        ]
        return fit(
            model,
            run.tokenizer,
            self.options,
            name=self.name,
            train_data=train_data,
            dev_data=FeatureDataset([f for part in dev_parts for f in part.features]),
            collator=(
                TeacherCollator(run.tokenizer)
                if self.ner.teacher is not None
                else DataCollatorForTokenClassification(run.tokenizer)
            ),
            trainer_class=(
                distillation_trainer(self.ner.teacher_weight, self.ner.temperature)
                if self.ner.teacher is not None
                else None
            ),
            compute_metrics=_dev_metrics(dict(enumerate(self.labels)), dev_types),
            preprocess_logits=lambda logits, _labels: torch.softmax(logits.float(), dim=-1),
            callbacks=[EarlyStoppingCallback(early_stopping_patience=self.options.patience)],
            device=run.device,
            bf16=run.bf16,
        )

    def manifest(self, run: Run) -> dict[str, Any]:
        """Base, task, labels, window length and whether context is read."""
        return {
            "base": self.options.base,
            "task": "token-classification",
            "labels": self.labels,
            "max_length": self.ner.max_length,
            "context": self.ner.context,
            **({"added_characters": len(self.new_token_ids)} if self.new_token_ids else {}),
        }

    def evaluate(self, run: Run) -> None:
        """Entity scores of the saved model on each dev source and on all of them."""
        gold: set[tuple[Any, ...]] = set()
        pred: set[tuple[Any, ...]] = set()
        for index, source in enumerate(self.dev_sources):
            source_gold, source_pred = _source_entities(
                str(self.options.out),
                source,
                device=str(run.device),
                context_margin=self.ner.context_margin,
                label_map=self.ner.label_map,
            )
            self.dev_by_source[str(source)] = span_scores(source_gold, source_pred)
            gold.update(((index, e[0]), *e[1:]) for e in source_gold)
            pred.update(((index, e[0]), *e[1:]) for e in source_pred)
        self.dev_scores = span_scores(gold, pred)

    def card(self, run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
        """``model_card.json``: data, hyper-parameters, the run and the dev scores."""
        options, ner = self.options, self.ner
        return {
            **run.card_head("token-classification"),
            "labels": self.labels,
            "data": {
                "train": _data_card(self.train_sources, self.train_docs, self.masked),
                "dev": _data_card(self.dev_sources, self.dev_docs, [False] * len(self.dev_docs)),
            },
            "command": options.command_line(),
            "seed": options.seed,
            "hyperparameters": {
                **options.hyperparameters(targets=self.lora_targets),
                "max_length": ner.max_length,
                "patience": options.patience,
                "max_steps": options.max_steps,
                "label_all_subtokens": ner.label_all_subtokens,
                "context": ner.context,
                "context_margin": ner.context_margin if ner.context else None,
                "attention_dropout": ner.attention_dropout,
                "label_map": dict(ner.label_map),
                "added_characters": len(self.new_token_ids),
                "teacher": self.teacher_card,
                "init": str(options.init.resolve()) if options.init is not None else None,
                **recipe.schedule_fields(run.bf16),
            },
            "trainable_parameters": run.trainable,
            "epochs_run": fitted.epochs,
            "steps": fitted.steps,
            "best_checkpoint_dev_f1": fitted.best_dev_f1,
            "dev_f1_per_epoch": list(fitted.dev_f1_per_epoch),
            "dev_scores": self.dev_scores.model_dump(),
            "dev_scores_by_source": {k: v.model_dump() for k, v in self.dev_by_source.items()},
            "results": {},
            **recipe.card_tail(run, elapsed, fitted, unit="sentences"),
        }

    write_readme = staticmethod(_write_readme)

    def result(
        self, run: Run, fitted: Fitted, elapsed: Elapsed, card: dict[str, Any]
    ) -> NerTrainResult:
        """The :class:`NerTrainResult` of the run."""
        return NerTrainResult(
            **recipe.result_fields(run, fitted, elapsed),
            labels=tuple(self.labels),
            dev=self.dev_scores,
            best_dev_f1_during_training=fitted.best_dev_f1,
            train_sentences_per_second=card["timing"]["train_sentences_per_second"],
        )


def check_label_map(
    label_map: Mapping[str, str], sources: Sequence[Sequence[Sequence[TaggedSentence]]]
) -> None:
    """Refuse a ``label_map`` key that no source's tags have, or a value that is no type name.

    Raises:
        InputError: Naming the keys and the data's types, or the bad values.
    """
    found = {
        tag[2:] for docs in sources for doc in docs for s in doc for tag in s.tags if tag != "O"
    }
    unknown = sorted(set(label_map) - found)
    if unknown:
        raise InputError(
            f"--label-map names {', '.join(unknown)}, which no source has (its types: "
            f"{', '.join(sorted(found)) or 'none'})"
        )
    bad = sorted(v for v in label_map.values() if not v or v.strip() != v or "-" in v)
    if bad:
        raise InputError(f"--label-map: {bad!r} cannot be an entity type (no blanks or '-')")


def relabelled(
    sources: Sequence[Sequence[Sequence[TaggedSentence]]], label_map: Mapping[str, str]
) -> list[list[list[TaggedSentence]]]:
    """Each source's documents with their entity types renamed by ``label_map`` (``O``: dropped).

    Tags stay valid BIO: an ``I-`` whose entity was dropped becomes ``O``, one that no
    longer continues an entity of its (new) type opens one. Other prefixes are kept.
    """
    return [[[_relabelled(s, label_map) for s in doc] for doc in docs] for docs in sources]


def _relabelled(sentence: TaggedSentence, label_map: Mapping[str, str]) -> TaggedSentence:
    tags: list[str] = []
    previous = "O"
    for tag in sentence.tags:
        if tag == "O":
            tags.append(tag)
            previous = tag
            continue
        prefix, kind = tag[0], label_map.get(tag[2:], tag[2:])
        if kind == "O":
            tags.append("O")
        elif prefix == "I" and (previous == "O" or previous[2:] != kind):
            tags.append(f"B-{kind}")  # its entity's start was dropped or is another type now
        else:
            tags.append(f"{prefix}-{kind}")  # IOBES prefixes (E-, S-) kept as they are
        previous = tags[-1]
    return TaggedSentence(tokens=sentence.tokens, tags=tuple(tags))


def unknown_characters(
    tokenizer: Any,
    documents: Sequence[Sequence[Sequence[TaggedSentence]]],
    least: int = NEW_CHARACTER_MIN_COUNT,
) -> list[str]:
    """The characters of ``documents`` seen ``least`` times that ``tokenizer`` reads as unknown.

    Each as the tokenizer's normaliser writes it (lowercased for an uncased model), the
    form an added token is matched in; sorted.
    """
    counts = Counter(
        character
        for docs in documents
        for doc in docs
        for sentence in doc
        for word in sentence.tokens
        for character in word
        if not character.isspace()
    )
    normaliser = tokenizer.backend_tokenizer.normalizer
    forms = {  # BERT's normaliser pads a Chinese character with spaces
        (normaliser.normalize_str(c) if normaliser is not None else c).strip()
        for c, n in counts.items()
        if n >= least
    }
    forms = {f for f in forms if len(f) == 1}
    ordered = sorted(forms)
    unk = tokenizer.unk_token_id
    ids = tokenizer(ordered, add_special_tokens=False)["input_ids"] if ordered else []
    return [c for c, pieces in zip(ordered, ids, strict=True) if pieces == [unk]]


def train_ner(
    train: NerData,
    dev: NerData,
    *,
    base: str,
    out: Path,
    **keywords: Unpack[NerKeywords],
) -> NerTrainResult:
    """Fine-tune a token classifier on tagged data and save it to ``out``.

    One model learns the union of the sources' labels. A partial source (CoNLL, WNUT-17:
    no TIME or NUM type) beside types it does not annotate has its ``O`` on dates and
    numbers masked, so it does not teach that they are not entities (:func:`kgbuild.readers.ner_sources.unannotated_words`).
    Training runs up to 8 epochs by default; the best epoch (dev entity F1) is kept.

    Args:
        train: Training file (in ``data_format``) or sources
            (:func:`kgbuild.readers.ner_sources.parse_source`), read together.
        dev: Dev file or sources, scored after every epoch (entity F1 over all of them
            picks the best epoch; each source is scored on its own types only).
        base: Base model reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        **keywords: The fields of :class:`~kgbuild.training.common.TrainOptions` (an
            ``init`` model must have been trained from ``base``, with the data's labels
            among its own (it keeps all of them), and the same LoRA rank) and of
            :class:`NerOptions`.

    Returns:
        NerTrainResult: Output folder, labels, dev scores of the saved model, timing.

    Raises:
        InputError: A data file is missing or holds no sentences, or an option is
            out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    options, ner = recipe.split_keywords(keywords, NerOptions, base=base, out=out, epochs=8)
    return recipe.train_model(NerTask(train, dev, options, ner))


def _dev_metrics(
    id2label: dict[int, str], dev_types: Sequence[frozenset[str]]
) -> Callable[[Any], dict[str, float]]:
    """``compute_metrics`` of a NER run: entity F1 of dev, decoded as inference decodes it."""

    def compute_metrics(prediction: Any) -> dict[str, float]:
        # The best valid tag sequence over the first sub-token of each word (the
        # labelled positions), each window scored on its source's types.
        pred_probs = np.asarray(prediction.predictions, dtype=np.float32)
        gold_ids = np.asarray(prediction.label_ids)
        gold_tags: list[list[str]] = []
        pred_tags: list[list[str]] = []
        for prob_rows, gold_row, types in zip(pred_probs, gold_ids, dev_types, strict=True):
            keep = gold_row != -100
            gold_tags.append([id2label[int(i)] for i in gold_row[keep]])
            label_ids = constrained_label_ids(prob_rows[keep], id2label)
            pred_tags.append(restrict_types([id2label[i] for i in label_ids], types))
        scores = ner_scores(gold_tags, pred_tags)
        return {
            "precision": scores.micro.precision,
            "recall": scores.micro.recall,
            "f1": scores.micro.f1,
        }

    return compute_metrics


def _data_card(
    sources: Sequence[NerSource],
    documents: Sequence[list[list[TaggedSentence]]],
    masked: Sequence[bool],
) -> list[dict[str, Any]]:
    """The card's entries of one split: each source, its file's hash, size and masking."""
    return [
        {
            "source": str(source),
            "format": source.format,
            "path": str(source.path.resolve()),
            "documents": list(source.docs) if source.docs is not None else None,
            "sha256": sha256_file(source.path),
            "sentences": sum(len(doc) for doc in docs),
            "masked_unannotated_dates_numbers": mask,
            "unlabeled": source.unlabeled,
        }
        for source, docs, mask in zip(sources, documents, masked, strict=True)
    ]


def predict_tags(
    model_ref: str,
    sentences: Sequence[Sequence[str]],
    *,
    doc_ids: Sequence[object] | None = None,
    device: str | None = None,
    batch_size: int = 32,
    constrained: bool = True,
    context_margin: int | None = None,
) -> list[list[str]]:
    """Tag pre-tokenized sentences with a token classifier (first sub-token per word).

    Words that get no sub-token (e.g. control characters) are tagged ``"O"``; a sentence
    longer than the model's maximum length is read in parts, cut between words.

    Args:
        model_ref: Model reference for :func:`kgbuild.nlp.hf.load_token_classifier`.
        sentences: Sentences as lists of words.
        doc_ids: Each sentence's document; consecutive sentences of one document are
            neighbours, read as context when the model was trained with context
            (its manifest's ``context``). ``None``: every sentence alone.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        batch_size: Sentences per forward pass.
        constrained: Tag each sentence with its most probable valid BIO/BIOES sequence
            (:func:`kgbuild.nlp.align.constrained_label_ids`), as the NER stage does by
            default; ``False``: each word's most probable tag.
        context_margin: For a context model, as ``ner.context_margin`` (consecutive
            sentences share a window, as the NER stage reads them); ``None``: the
            config's default.

    Returns:
        list[list[str]]: One tag per word, per sentence.
    """
    loaded = load_token_classifier(model_ref, device=device)
    tokenizer, model = loaded.tokenizer, loaded.model
    context = bool(loaded.manifest.get("context")) and doc_ids is not None
    margin = NerConfig().context_margin if context_margin is None else context_margin
    labels = loaded.id2label if constrained else None  # None: each word's argmax
    groups: list[list[int]] = []
    for index in range(len(sentences)):
        if doc_ids is not None and groups and doc_ids[groups[-1][-1]] == doc_ids[index]:
            groups[-1].append(index)
        else:
            groups.append([index])
    windows: list[_Window] = []
    for group in groups:
        for window in _packed_windows(
            [sentences[i] for i in group],
            tokenizer,
            max_length=loaded.max_length,
            margin=margin if context else None,
        ):
            # sentence positions within the group -> indexes into ``sentences``
            windows.append(
                window.model_copy(
                    update={"sentences": tuple(-1 if s < 0 else group[s] for s in window.sentences)}
                )
            )
    results: list[list[str]] = [["O"] * len(words) for words in sentences]
    pad_id = tokenizer.pad_token_id or 0
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch_ids = order[start : start + batch_size]
            width = max(len(windows[i].input_ids) for i in batch_ids)
            ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
            for row, index in enumerate(batch_ids):
                length = len(windows[index].input_ids)
                ids[row, :length] = torch.tensor(windows[index].input_ids)
                mask[row, :length] = 1
            logits = model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device))
            probs = torch.softmax(logits.logits.float(), dim=-1).cpu().numpy()
            for row, index in enumerate(batch_ids):
                window = windows[index]
                per_sentence: dict[int, list[TokenPrediction]] = {}
                for position, (sentence, word_id) in enumerate(
                    zip(window.sentences, window.word_ids, strict=True)
                ):
                    if sentence >= 0 and word_id is not None:
                        per_sentence.setdefault(sentence, []).append(
                            TokenPrediction(
                                word=word_id,
                                start=position,
                                end=position,
                                probs=probs[row, position],
                            )
                        )
                for sentence, pieces in per_sentence.items():
                    for word in aggregate_words(pieces, AggregationStrategy.FIRST, labels):
                        results[sentence][word.word] = loaded.id2label[word.label_id]
    return results


Entity = tuple[int, int, str, int, int]
"""``(document, sentence, type, first word, end word)`` of a mention (end exclusive)."""


def _tag_entities(doc: int, sent: int, tags: Sequence[str]) -> set[Entity]:
    from seqeval.metrics.sequence_labeling import get_entities

    from kgbuild.training.metrics import normalise_tags

    return {(doc, sent, t, s, e + 1) for t, s, e in get_entities(normalise_tags(list(tags)))}


def _source_entities(
    model_ref: str,
    source: NerSource,
    *,
    device: str | None = None,
    batch_size: int = 32,
    types: Sequence[str] | None = None,
    context_margin: int | None = None,
    label_map: Mapping[str, str] | None = None,
) -> tuple[set[Entity], set[Entity]]:
    """Gold and predicted mentions of a source, on the types scored.

    DocRED gold is every mention of the file (nested ones too); other formats' gold is
    their tags, renamed by ``label_map`` as training read them. Predicted mentions of
    types outside ``types`` (default: the types the source annotates) are left out: a
    corpus without TIME cannot score a TIME.
    """
    documents = read_source(source)
    if label_map:
        if source.format == "docred":
            raise InputError("--label-map renames tagged data; DocRED is scored on its own types")
        [documents] = relabelled([documents], label_map)
    sentences = [s for doc in documents for s in doc]
    if not sentences:  # scores of nothing would read as a model that finds nothing
        raise InputError(f"no sentences in {source}")
    doc_ids = [d for d, doc in enumerate(documents) for _ in doc]
    sent_ids = [i for doc in documents for i in range(len(doc))]
    predicted = predict_tags(
        model_ref,
        [s.tokens for s in sentences],
        doc_ids=doc_ids,
        device=device,
        batch_size=batch_size,
        context_margin=context_margin,
    )
    gold: set[Entity] = set()
    if source.format == "docred":
        from kgbuild.readers.docred import read_docred

        first = source.docs[0] if source.docs is not None else 0
        end = source.docs[1] if source.docs is not None else None
        for d, doc in enumerate(read_docred(source.path, encoding=source.encoding)[first:end]):
            gold.update(
                (d, m.sent_id, m.type, m.start, m.end) for e in doc.entities for m in e.mentions
            )
    else:
        for d, s, sentence in zip(doc_ids, sent_ids, sentences, strict=True):
            gold |= _tag_entities(d, s, sentence.tags)
    scored = frozenset(types) if types is not None else frozenset(e[2] for e in gold)
    gold = {e for e in gold if e[2] in scored}
    pred: set[Entity] = set()
    for d, s, tags in zip(doc_ids, sent_ids, predicted, strict=True):
        pred |= {e for e in _tag_entities(d, s, tags) if e[2] in scored}
    return gold, pred


def evaluate_ner(
    model_ref: str,
    data_path: Path | NerSource,
    *,
    device: str | None = None,
    batch_size: int = 32,
    data_format: str = "conll",
    docs: tuple[int, int | None] | None = None,
    types: Sequence[str] | None = None,
    context_margin: int | None = None,
    label_map: Mapping[str, str] | None = None,
) -> NerScores:
    """Score a token classifier on tagged data: mentions, typed, exact boundaries.

    Sentences of one document are read together when the model was trained with
    context. With DocRED data this is typed mention F1 over all gold mentions.

    Args:
        model_ref: Model reference (Hub id, local folder, adapter folder, ``pypi:``).
        data_path: File with gold tags, in ``data_format`` (one of
            :data:`kgbuild.readers.ner_sources.NER_SOURCE_FORMATS`), or a source.
        data_format: Format of ``data_path`` given as a file.
        docs: ``(first, end)`` documents of the file to score (``None``: all).
        types: Entity types to score (default: the types the data annotates;
            predictions of other types are left out).
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        batch_size: Sentences per forward pass.
        context_margin: As in :func:`predict_tags`.
        label_map: The data's types renamed (``O``: dropped) as ``train_ner`` read them.

    Returns:
        NerScores: Micro and per-type precision, recall and F1.

    Raises:
        InputError: The file is missing, or holds no sentences (in the documents chosen).
        ModelLoadError: The model cannot be loaded.
    """
    source = (
        data_path
        if isinstance(data_path, NerSource)
        else NerSource(format=data_format, path=data_path, docs=docs)
    )
    check_data_file(source.path)
    if label_map and source.format != "docred":
        check_label_map(label_map, [read_source(source)])
    gold, pred = _source_entities(
        model_ref,
        source,
        device=device,
        batch_size=batch_size,
        types=types,
        context_margin=context_margin,
        label_map=label_map,
    )
    return span_scores(gold, pred)
