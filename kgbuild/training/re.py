"""Fine-tuning and evaluating entity-marker relation classifiers (CoNLL04 JSON).

Candidates are built from GOLD entities: every ordered pair of entities of a sentence
(that do not overlap) is one example, labelled with its gold relation or
``no_relation``. The input is the sentence with typed markers around head and tail
(:func:`kgbuild.stages.relations.mark_pair`, shared with the pipeline stage), read by
an :class:`~kgbuild.nlp.pair_classifier.EntityPairClassifier` (the hidden states at
the two opening markers; the default) or a standard
``AutoModelForSequenceClassification`` (``[CLS]``; ``pooling="cls"``). The marker
tokens are added to the tokenizer; with LoRA only their embedding rows are trained and
saved (peft ``trainable_token_indices``), beside the adapter and the classifier head
(and the pooler of a ``[CLS]`` model), so an adapter stays a few MB.

Training uses the Hugging Face ``Trainer``: seeded, length-grouped batches, one
evaluation per epoch with strict micro F1 (``no_relation`` excluded), best epoch kept,
early stopping. The output folder holds the adapter (or full model), the tokenizer
with the markers, ``kgbuild_model.json`` and a model card (``model_card.json`` and
``README.md``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import numpy as np

from kgbuild.errors import InputError
from kgbuild.nlp.hf import load_sequence_classifier, model_task, resize_embeddings
from kgbuild.nlp.pair_classifier import (
    ENTITY_START,
    POOLINGS,
    EntityPairClassifier,
    opening_marker_ids,
)
from kgbuild.readers.files import check_data_file
from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, RelationExample, read_conll04
from kgbuild.stages.factories import DOCUMENT_RELATIONS
from kgbuild.stages.relations import (
    MarkerEncoder,
    classify,
    mark_pair,
    marker_tokens,
    undo_negative_sampling,
)
from kgbuild.training import recipe
from kgbuild.training.common import (
    LORA_TARGET_MODULES,
    FeatureDataset,
    check_dev_labels,
    fit,
    input_embedding_name,
    lora_target_modules,
    run_lines,
    sha256_file,
)
from kgbuild.training.re_metrics import NO_RELATION, RelationKey, ReScores, relation_scores
from kgbuild.training.recipe import Elapsed, Fitted, Run, TrainOptions

__all__ = [
    "CONLL04_ENTITY_TYPES",
    "ReKeywords",
    "ReOptions",
    "RePair",
    "ReTask",
    "ReTrainResult",
    "build_pairs",
    "evaluate_examples",
    "evaluate_re",
    "gold_keys",
    "manifest_maps",
    "predict_relations",
    "train_re",
]

logger = logging.getLogger(__name__)


class ReTrainResult(recipe.TrainResult):
    """What :func:`train_re` produced."""

    labels: tuple[str, ...]
    dev: ReScores
    best_dev_f1_during_training: float | None
    train_pairs: int
    train_pairs_per_second: float


@dataclass(frozen=True)
class RePair:
    """One candidate: an ordered pair of gold entities of sentence ``sentence``."""

    sentence: int
    head: int
    tail: int
    label: str
    text: str
    """The sentence with typed markers around head and tail."""
    key: RelationKey
    """Spans, types and ``label`` (token offsets), for strict scoring."""


def _sentence_text(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join tokens with spaces; return the text and each token's character span."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), spans


def build_pairs(
    examples: Sequence[RelationExample],
    *,
    entity_label_map: Mapping[str, str] | None = None,
    label_map: Mapping[str, str] | None = None,
) -> list[RePair]:
    """Every ordered pair of non-overlapping gold entities per sentence, labelled.

    Args:
        examples: Sentences with gold entities and relations.
        entity_label_map: Data entity type -> marker type (default: CoNLL04's to
            ``PER``/``ORG``/``LOC``/``MISC``; unlisted types pass unchanged).
        label_map: Data relation label -> model label (unlisted labels pass unchanged).

    Returns:
        list[RePair]: Pairs in sentence, head, tail order; a pair with no gold relation
        is labelled ``no_relation`` (the first gold relation wins if a pair has two).
    """
    types = dict(CONLL04_ENTITY_TYPES if entity_label_map is None else entity_label_map)
    relabel = dict(label_map or {})
    pairs: list[RePair] = []
    for index, example in enumerate(examples):
        text, spans = _sentence_text(example.tokens)
        gold: dict[tuple[int, int], str] = {}
        for relation in example.relations:
            gold.setdefault(
                (relation.head, relation.tail), relabel.get(relation.label, relation.label)
            )
        entities = example.entities
        for h, head in enumerate(entities):
            for t, tail in enumerate(entities):
                if h == t or (head.start < tail.end and tail.start < head.end):
                    continue
                label = gold.get((h, t), NO_RELATION)
                marked = mark_pair(
                    text,
                    (spans[head.start][0], spans[head.end - 1][1]),
                    types.get(head.label, head.label),
                    (spans[tail.start][0], spans[tail.end - 1][1]),
                    types.get(tail.label, tail.label),
                )
                key = RelationKey(
                    head.start, head.end, head.label, tail.start, tail.end, tail.label, label
                )
                pairs.append(RePair(index, h, t, label, marked, key))
    return pairs


def gold_keys(
    examples: Sequence[RelationExample], label_map: Mapping[str, str] | None = None
) -> list[list[RelationKey]]:
    """Gold relations per sentence as strict-scoring keys (labels renamed by ``label_map``)."""
    relabel = dict(label_map or {})
    gold: list[list[RelationKey]] = []
    for example in examples:
        keys = []
        for relation in example.relations:
            head, tail = example.entities[relation.head], example.entities[relation.tail]
            label = relabel.get(relation.label, relation.label)
            keys.append(
                RelationKey(
                    head.start, head.end, head.label, tail.start, tail.end, tail.label, label
                )
            )
        gold.append(keys)
    return gold


def _keys_by_sentence(
    n_sentences: int, pairs: Sequence[RePair], labels: Sequence[str]
) -> list[list[RelationKey]]:
    out: list[list[RelationKey]] = [[] for _ in range(n_sentences)]
    for pair, label in zip(pairs, labels, strict=True):
        if label != NO_RELATION:
            out[pair.sentence].append(pair.key._replace(type=label))
    return out


@dataclass(frozen=True)
class PairWindows:
    """How many pairs of a split were longer than ``max_length``, and what they lost."""

    windowed: int = 0
    """Read in a window around their two mentions."""
    cut_between: int = 0
    """Of those, read with part of the text between the two mentions left out."""

    def to_json(self) -> dict[str, int]:
        """The card's entry."""
        return {"pairs_windowed": self.windowed, "pairs_cut_between_mentions": self.cut_between}


def _encode_pairs(
    pairs: Sequence[RePair], encoder: MarkerEncoder, label2id: Mapping[str, int], split: str
) -> tuple[FeatureDataset, PairWindows]:
    features, windowed, cut = [], 0, 0
    for pair in pairs:
        encoded = encoder.encode_pair(pair.text)
        windowed += encoded.windowed
        cut += encoded.unread_between > 0
        ids = encoded.ids
        features.append(
            {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label2id[pair.label]}
        )
    if windowed:
        logger.info(
            "%d of %d %s candidates read in a window around their mentions",
            windowed,
            len(pairs),
            split,
        )
    if cut:
        logger.warning(
            "%d of %d %s candidates are longer than max_length %d from one mention to the other: "
            "read with part of the text between their mentions left out",
            cut,
            len(pairs),
            split,
            encoder.max_length,
        )
    return FeatureDataset(features), PairWindows(windowed, cut)


def manifest_maps(manifest: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A relation model's data-type -> marker-type map and data-label -> model-label map."""
    entity_map = {str(k): str(v) for k, v in dict(manifest.get("entity_label_map", {})).items()}
    label_map = {str(k): str(v) for k, v in dict(manifest.get("label_map", {})).items()}
    return entity_map, label_map


def predict_relations(
    model_ref: str,
    examples: Sequence[RelationExample],
    *,
    device: str | None = None,
    batch_size: int = 32,
) -> list[list[RelationKey]]:
    """Classify every ordered pair of gold entities; return the predicted relations.

    The model's manifest gives the entity-type -> marker map and the label map it was
    trained with; predictions carry the model's labels (``no_relation`` dropped).

    Returns:
        list[list[RelationKey]]: Predicted relations per sentence (token offsets).
    """
    loaded = load_sequence_classifier(model_ref, device=device)
    entity_map, label_map = manifest_maps(loaded.manifest)
    types = [
        str(t)
        for t in loaded.manifest.get("entity_types", sorted(set(CONLL04_ENTITY_TYPES.values())))
    ]
    max_length = int(loaded.manifest.get("max_length", loaded.max_length))
    encoder = MarkerEncoder(
        loaded.tokenizer, marker_tokens(types), min(max_length, loaded.max_length)
    )
    pairs = build_pairs(examples, entity_label_map=entity_map or None, label_map=label_map)
    if not pairs:
        return [[] for _ in examples]
    probs = classify(
        loaded, [encoder.encode(pair.text)[0] for pair in pairs], batch_size=batch_size
    )
    labels = [loaded.id2label[int(i)] for i in probs.argmax(axis=1)]
    return _keys_by_sentence(len(examples), pairs, labels)


def evaluate_examples(
    model_ref: str, examples: Sequence[RelationExample], *, device: str | None, batch_size: int
) -> ReScores:
    """Strict scores of a relation model on sentences with gold entities."""
    loaded = load_sequence_classifier(model_ref, device=device)
    _, label_map = manifest_maps(loaded.manifest)
    predicted = predict_relations(model_ref, examples, device=device, batch_size=batch_size)
    return relation_scores(gold_keys(examples, label_map), predicted)


def evaluate_re(
    model_ref: str,
    data_path: Path,
    *,
    device: str | None = None,
    batch_size: int = 32,
    encoding: str = "utf-8",
) -> ReScores:
    """Score a relation classifier on a CoNLL04 JSON file (in ``encoding``), with gold entities.

    A predicted relation is correct iff head span and type, tail span and type and
    the relation type all match a gold relation (strict; micro and per type).

    Raises:
        InputError: The file is missing, or the model is a document-level one.
        ModelLoadError: The model cannot be loaded.
    """
    check_data_file(data_path)
    if model_task(model_ref) == DOCUMENT_RELATIONS:
        raise InputError(
            f"model {model_ref!r} is a document-level relation model (like the default): "
            "score it on DocRED-format data with `kgbuild evaluate graph --data FILE "
            "--gold-entities` (--re-model MODEL)"
        )
    return evaluate_examples(
        model_ref, read_conll04(data_path, encoding=encoding), device=device, batch_size=batch_size
    )


def _scores_table(scores: ReScores) -> str:
    rows = ["| type | precision | recall | F1 | gold | predicted |", "|---|---|---|---|---|---|"]
    for name, prf in [*scores.per_type.items(), ("**micro**", scores.micro)]:
        rows.append(
            f"| {name} | {100 * prf.precision:.2f} | {100 * prf.recall:.2f} | "
            f"{100 * prf.f1:.2f} | {prf.support} | {prf.predicted} |"
        )
    return "\n".join(rows)


_POOLING_TEXT = {
    ENTITY_START: "It reads each candidate at its two opening markers: the encoder's last hidden\n"
    "states there, concatenated, go through one linear layer (`EntityPairClassifier`).",
    "cls": "A standard `AutoModelForSequenceClassification`: it reads each candidate from\n"
    "its `[CLS]` vector.",
}


def _write_readme(out: Path, card: dict[str, Any]) -> None:
    dev, data = ReScores.model_validate(card["dev_scores"]), card["data"]
    run = run_lines(
        card,
        unit="pairs",
        f1_as_fraction=True,
        extra=[
            f"- Prediction: `no_relation` probability times {card['no_relation_weight']:.3f} "
            "(the inverse of",
            "  the share of `no_relation` pairs kept by negative sampling), then renormalised",
        ],
    )
    dev_line = (
        f"`{data['dev']['path']}` ({data['dev']['sentences']} sentences, "
        f"sha256 `{data['dev']['sha256']}`)"
        if data["dev"].get("path")
        else f"{data['dev']['sentences']} sentences held out of the training file "
        f"(fraction {data['dev']['fraction']}, seed {card['seed']})"
    )
    text = f"""# Relation model: {out.name}

Entity-marker relation classifier fine-tuned by `kgbuild train re` ({card["method"]}).
{_POOLING_TEXT[card.get("pooling", "cls")]}

- Base model: `{card["base"]}` (resolved revision `{card["base_revision"]}`)
- Labels ({len(card["labels"])}): {", ".join(f"`{label}`" for label in card["labels"])}
- Markers: {" ".join(f"`{m}`" for m in card["markers"])}
- Training data: `{data["train"]["path"]}` ({data["train"]["sentences"]} sentences,
  {data["train"]["pairs"]} candidate pairs, sha256 `{data["train"]["sha256"]}`)
- Dev data: {dev_line}
{run}

## Dev scores (strict, gold entities, saved model re-loaded)

A relation counts as correct only when head span and type, tail span and type and the
relation type all match.

{_scores_table(dev)}

## Use

```python
from kgbuild.stages.relations import ReConfig, RelationStage
stage = RelationStage(ReConfig(model="{out}"), schema=..., run_id=...)
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _split_dev(
    examples: list[RelationExample], fraction: float, seed: int
) -> tuple[list[RelationExample], list[RelationExample]]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(fraction * len(examples)))
    held = set(order[:n_dev])
    return (
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
    )


@dataclass(frozen=True)
class ReOptions:
    """What a relation run sets beyond :class:`~kgbuild.training.common.TrainOptions`."""

    max_length: int = 128
    """Maximum sub-tokens per candidate (longer ones are read in a window around the two
    mentions)."""
    dev_fraction: float = 0.1
    """Share of training sentences held out when there is no dev file."""
    negative_ratio: float | None = None
    """Keep at most this many ``no_relation`` training pairs per positive pair (a seeded
    sample, fixed for the run); ``None`` keeps all."""
    label_map: Mapping[str, str] | None = None
    """Rename data relation labels for the model (e.g. to schema types)."""
    entity_label_map: Mapping[str, str] | None = None
    """Data entity type -> marker type (default: CoNLL04's)."""
    pooling: str = ENTITY_START
    """``"entity_start"``: classify from the hidden states at the head and tail markers
    (:class:`kgbuild.nlp.pair_classifier.EntityPairClassifier`); ``"cls"``: a standard
    ``AutoModelForSequenceClassification`` (``[CLS]``)."""


class ReKeywords(recipe.TrainKeywords, total=False):
    """:class:`~kgbuild.training.common.TrainOptions` and :class:`ReOptions` as keywords."""

    max_length: int
    dev_fraction: float
    negative_ratio: float | None
    label_map: Mapping[str, str] | None
    entity_label_map: Mapping[str, str] | None
    pooling: str


class ReTask:
    """The relation task of :func:`kgbuild.training.recipe.train_model` (one run's state)."""

    name = "re"
    require_fast = True

    @property
    def max_length(self) -> int:
        """Sub-tokens per model input (at most the base model's positions)."""
        return self.relation.max_length

    def __init__(
        self, train: Path, dev: Path | None, options: TrainOptions, relation: ReOptions
    ) -> None:
        self.train, self.dev, self.options, self.relation = train, dev, options, relation
        self.lora_targets: tuple[str, ...] = LORA_TARGET_MODULES
        self.train_examples: list[RelationExample] = []
        self.dev_examples: list[RelationExample] = []
        self.train_pairs: list[RePair] = []
        self.dev_pairs: list[RePair] = []
        self.pairs_before_sampling = 0
        self.train_windows = PairWindows()
        """Training pairs longer than ``max_length`` (set by :meth:`fit`)."""
        self.dev_windows = PairWindows()
        self.no_relation_weight = 1.0
        self.labels: list[str] = []
        self.entity_types: list[str] = []
        self.markers: list[str] = []
        self.modules_to_save = ["classifier"]
        self.vocabulary = 0
        self.marker_ids: list[int] = []
        self.dev_scores = relation_scores([], [])  # until evaluate()

    @property
    def entity_map(self) -> dict[str, str]:
        """Data entity type -> marker type."""
        given = self.relation.entity_label_map
        return dict(CONLL04_ENTITY_TYPES if given is None else given)

    @property
    def relabel(self) -> dict[str, str]:
        """Data relation label -> model label."""
        return dict(self.relation.label_map or {})

    @property
    def label2id(self) -> dict[str, int]:
        """Class id of each label."""
        return {label: i for i, label in enumerate(self.labels)}

    def prepare(self) -> None:
        """Read and split the data, build (and sample) the candidate pairs and markers."""
        options, relation, seed = self.options, self.relation, self.options.seed
        for path in (self.train, self.dev):
            if path is not None:
                check_data_file(path)
        if options.init is not None:
            raise InputError("a relation model cannot be continued: train it without init")
        options.check(relation.max_length, least=8)
        ratio = relation.negative_ratio
        if not 0 < relation.dev_fraction < 1 or (ratio is not None and ratio < 0):
            raise InputError("dev_fraction must be in (0, 1) and negative_ratio >= 0")
        if relation.pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, not {relation.pooling!r}")
        self.train_examples = read_conll04(self.train, encoding=options.encoding)
        if self.dev is None:
            self.train_examples, self.dev_examples = _split_dev(
                self.train_examples, relation.dev_fraction, seed
            )
        else:
            self.dev_examples = read_conll04(self.dev, encoding=options.encoding)
        entity_map, relabel = self.entity_map, self.relabel
        pairs = build_pairs(self.train_examples, entity_label_map=entity_map, label_map=relabel)
        self.dev_pairs = build_pairs(
            self.dev_examples, entity_label_map=entity_map, label_map=relabel
        )
        if not pairs or not self.dev_pairs:
            raise InputError(
                f"no candidate entity pairs in {self.train if not pairs else self.dev}"
            )
        if self.dev is not None:
            trained, dev = ({p.label for p in pairs}, {p.label for p in self.dev_pairs})
            check_dev_labels(self.dev, trained, dev, ignore=NO_RELATION)
        self.pairs_before_sampling = len(pairs)
        self.train_pairs, self.no_relation_weight = _sample_negatives(pairs, ratio, seed)
        relation_labels = {p.label for p in [*self.train_pairs, *self.dev_pairs]} - {NO_RELATION}
        self.labels = [NO_RELATION, *sorted(relation_labels)]
        self.entity_types = sorted(
            {
                entity_map.get(e.label, e.label)
                for ex in [*self.train_examples, *self.dev_examples]
                for e in ex.entities
            }
        )
        self.markers = marker_tokens(self.entity_types)

    def load(self, resolved: str, tokenizer: Any) -> Any:
        """The base encoder with the marker tokens added and a fresh pair classifier."""
        from transformers import AutoModel, AutoModelForSequenceClassification

        tokenizer.add_tokens(self.markers, special_tokens=True)
        self.vocabulary = len(tokenizer)
        encoder = MarkerEncoder(tokenizer, self.markers, self.relation.max_length)
        self.marker_ids = sorted(encoder.marker_ids)
        id2label = dict(enumerate(self.labels))
        if self.relation.pooling == ENTITY_START:
            heads, tails = opening_marker_ids(tokenizer, self.markers)
            return EntityPairClassifier(AutoModel.from_pretrained(resolved), id2label, heads, tails)
        return AutoModelForSequenceClassification.from_pretrained(
            resolved, id2label=id2label, label2id=self.label2id, ignore_mismatched_sizes=True
        )

    def adapt(self, model: Any) -> Any:
        """A LoRA adapter (head and marker rows trained in full), or full weights."""
        resize_embeddings(model, self.vocabulary)
        if self.relation.pooling != ENTITY_START and any(
            name.endswith("pooler") for name, _ in model.named_modules()
        ):
            self.modules_to_save.append("pooler")
        embedding_name = input_embedding_name(model)
        self.lora_targets = lora_target_modules(model)
        model = recipe.with_adapter(
            model,
            self.options,
            task_type="SEQ_CLS",
            modules_to_save=self.modules_to_save,
            trainable_token_indices={embedding_name: self.marker_ids},
        )
        logger.info(
            "%d training pairs (%d before negative sampling), %d dev pairs; trainable "
            "parameters: %d of %d",
            len(self.train_pairs),
            self.pairs_before_sampling,
            len(self.dev_pairs),
            sum(p.numel() for p in model.parameters() if p.requires_grad),
            sum(p.numel() for p in model.parameters()),
        )
        return model

    def fit(self, run: Run, model: Any) -> Fitted:
        """Train with the Trainer; dev strict F1 each epoch picks the best epoch."""
        from transformers import DataCollatorWithPadding

        encoder = MarkerEncoder(run.tokenizer, self.markers, self.relation.max_length)
        no_relation, weight = self.label2id[NO_RELATION], self.no_relation_weight
        n_gold = sum(len(set(keys)) for keys in gold_keys(self.dev_examples, self.relabel))
        train_data, self.train_windows = _encode_pairs(
            self.train_pairs, encoder, self.label2id, "training"
        )
        dev_data, self.dev_windows = _encode_pairs(self.dev_pairs, encoder, self.label2id, "dev")
        return fit(
            model,
            run.tokenizer,
            self.options,
            name=self.name,
            train_data=train_data,
            dev_data=dev_data,
            collator=DataCollatorWithPadding(run.tokenizer),
            compute_metrics=_dev_metrics(no_relation, n_gold),
            preprocess_logits=lambda logits, _labels: undo_negative_sampling(
                logits, no_relation, weight
            ).argmax(dim=-1),
            callbacks=[_patient_early_stopping(self.options.patience)],
            device=run.device,
            bf16=run.bf16,
        )

    def manifest(self, run: Run) -> dict[str, Any]:
        """Base, task, labels, markers, label maps, window and prediction settings."""
        return {
            "base": self.options.base,
            "task": "sequence-classification",
            "labels": self.labels,
            "entity_types": self.entity_types,
            "markers": self.markers,
            "entity_label_map": self.entity_map,
            "label_map": self.relabel,
            "max_length": self.relation.max_length,
            "no_relation_weight": self.no_relation_weight,
            "pooling": self.relation.pooling,
        }

    def evaluate(self, run: Run) -> None:
        """Strict relation scores of the saved model on the dev sentences."""
        self.dev_scores = evaluate_examples(
            str(self.options.out), self.dev_examples, device=str(run.device), batch_size=64
        )

    def card(self, run: Run, fitted: Fitted, elapsed: Elapsed) -> dict[str, Any]:
        """``model_card.json``: data, hyper-parameters, the run and the dev scores."""
        options, relation, train, dev = self.options, self.relation, self.train, self.dev
        dev_card: dict[str, Any] = (
            {"path": str(dev.resolve()), "sha256": sha256_file(dev)}
            if dev is not None
            else {"split_from": str(train.resolve()), "fraction": relation.dev_fraction}
        )
        task = "sequence-classification (relation extraction, typed entity markers)"
        return {
            "task": task,
            "pooling": relation.pooling,
            **run.card_head(task),
            "labels": self.labels,
            "markers": self.markers,
            "entity_label_map": self.entity_map,
            "label_map": self.relabel,
            "data": {
                "train": {
                    "path": str(train.resolve()),
                    "sha256": sha256_file(train),
                    "sentences": len(self.train_examples),
                    "pairs": len(self.train_pairs),
                    "pairs_before_sampling": self.pairs_before_sampling,
                    **self.train_windows.to_json(),
                },
                "dev": {
                    **dev_card,
                    "sentences": len(self.dev_examples),
                    "pairs": len(self.dev_pairs),
                    **self.dev_windows.to_json(),
                },
            },
            "command": options.command_line(),
            "seed": options.seed,
            "hyperparameters": {
                **options.hyperparameters(targets=self.lora_targets),
                "modules_to_save": self.modules_to_save if options.rank is not None else None,
                "max_length": relation.max_length,
                "patience": options.patience,
                "max_steps": options.max_steps,
                "negative_ratio": relation.negative_ratio,
                **recipe.schedule_fields(run.bf16),
            },
            "trainable_parameters": run.trainable,
            "no_relation_weight": self.no_relation_weight,
            "epochs_run": fitted.epochs,
            "steps": fitted.steps,
            "best_checkpoint_dev_f1": fitted.best_dev_f1,
            "dev_f1_per_epoch": list(fitted.dev_f1_per_epoch),
            "dev_scores": self.dev_scores.model_dump(),
            **recipe.card_tail(run, elapsed, fitted, unit="pairs"),
        }

    write_readme = staticmethod(_write_readme)

    def result(
        self, run: Run, fitted: Fitted, elapsed: Elapsed, card: dict[str, Any]
    ) -> ReTrainResult:
        """The :class:`ReTrainResult` of the run."""
        return ReTrainResult(
            **recipe.result_fields(run, fitted, elapsed),
            labels=tuple(self.labels),
            dev=self.dev_scores,
            best_dev_f1_during_training=fitted.best_dev_f1,
            train_pairs=len(self.train_pairs),
            train_pairs_per_second=fitted.examples_per_second,
        )


def train_re(
    train: Path,
    dev: Path | None = None,
    *,
    base: str,
    out: Path,
    **keywords: Unpack[ReKeywords],
) -> ReTrainResult:
    """Fine-tune an entity-marker relation classifier on CoNLL04 JSON and save it.

    With LoRA, the classifier (and a ``[CLS]`` model's pooler) and the marker-token
    rows are trained in full beside the adapter. Training runs up to 10 epochs by
    default; the best epoch (dev strict F1) is kept, and epochs while the model still
    predicts no relation at all (dev F1 0) do not count towards the patience.

    Args:
        train: Training file (CoNLL04 JSON, see :func:`kgbuild.readers.relations.read_conll04`).
        dev: Dev file scored after every epoch; ``None`` holds out ``dev_fraction`` of
            the training sentences (seeded).
        base: Base encoder reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        **keywords: The fields of :class:`~kgbuild.training.common.TrainOptions` (no
            ``init``: a relation model is always trained afresh) and of :class:`ReOptions`.

    Returns:
        ReTrainResult: Output folder, labels, dev scores of the re-loaded model, timing.

    Raises:
        InputError: A data file is missing or holds no usable pair, or an option is
            out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    options, relation = recipe.split_keywords(keywords, ReOptions, base=base, out=out, epochs=10)
    return recipe.train_model(ReTask(train, dev, options, relation))


def _sample_negatives(
    pairs: list[RePair], ratio: float | None, seed: int
) -> tuple[list[RePair], float]:
    """Training pairs with at most ``ratio`` ``no_relation`` pairs per positive (seeded).

    Also returns the weight that undoes the sampling at prediction: the model saw
    ``no_relation`` keep/len times as often as it occurs, so its probability is scaled
    back up by len/keep (1 without sampling).
    """
    if ratio is None:
        return pairs, 1.0
    positives = [p for p in pairs if p.label != NO_RELATION]
    negatives = [p for p in pairs if p.label == NO_RELATION]
    keep = min(len(negatives), round(ratio * len(positives)))
    sampled = set(random.Random(seed).sample(range(len(negatives)), keep))
    kept_neg = {id(p) for i, p in enumerate(negatives) if i in sampled}
    kept = [p for p in pairs if p.label != NO_RELATION or id(p) in kept_neg]
    return kept, len(negatives) / keep if keep else 1.0


def _dev_metrics(no_relation: int, n_gold: int) -> Callable[[Any], dict[str, float]]:
    """``compute_metrics`` of a relation run: strict micro F1 over the dev pairs."""

    def compute_metrics(prediction: Any) -> dict[str, float]:
        # The Trainer may reorder evaluation rows (length grouping), so count per row:
        # with gold entities, a predicted relation is strictly correct iff its pair's
        # gold label is the same relation (equal to relation_scores on the same pairs).
        pred_ids = np.asarray(prediction.predictions).reshape(-1)
        gold_ids = np.asarray(prediction.label_ids).reshape(-1)
        predicted = int((pred_ids != no_relation).sum())
        correct = int(((pred_ids == gold_ids) & (gold_ids != no_relation)).sum())
        precision = correct / predicted if predicted else 0.0
        recall = correct / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    return compute_metrics


def _patient_early_stopping(patience: int) -> Any:
    """Early stopping that does not count epochs with a dev F1 of 0.

    A relation classifier first predicts only ``no_relation`` (the prior) for an
    epoch or more; those epochs say nothing about over-fitting.
    """
    from transformers import EarlyStoppingCallback

    class _PatientEarlyStopping(EarlyStoppingCallback):
        def check_metric_value(
            self, args: Any, state: Any, control: Any, metric_value: Any
        ) -> None:
            if not metric_value and not state.best_metric:
                return
            super().check_metric_value(args, state, control, metric_value)  # type: ignore[no-untyped-call]

    return _PatientEarlyStopping(early_stopping_patience=patience)
