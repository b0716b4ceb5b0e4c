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
import shlex
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError, ModelLoadError
from kgbuild.nlp.hf import (
    PEFT_DEPRECATION,
    bf16_supported,
    clear_model_cache,
    load_sequence_classifier,
    model_revision,
    pick_device,
    resize_embeddings,
    resolve_model_ref,
)
from kgbuild.nlp.pair_classifier import (
    ENTITY_START,
    POOLINGS,
    EntityPairClassifier,
    opening_marker_ids,
)
from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, RelationExample, read_conll04
from kgbuild.stages.relations import (
    MarkerEncoder,
    classify,
    mark_pair,
    marker_tokens,
    undo_negative_sampling,
)
from kgbuild.training.common import (
    FeatureDataset,
    dir_size,
    fit,
    library_versions,
    run_lines,
    save_trained,
    sha256_file,
    write_card_json,
)
from kgbuild.training.ner import LORA_TARGET_MODULES
from kgbuild.training.re_metrics import NO_RELATION, RelationKey, ReScores, relation_scores

__all__ = [
    "CONLL04_ENTITY_TYPES",
    "RePair",
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


class ReTrainResult(BaseModel):
    """What :func:`train_re` produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path
    labels: tuple[str, ...]
    dev: ReScores
    best_dev_f1_during_training: float | None
    epochs_run: float
    steps: int
    train_pairs: int
    train_losses: tuple[float, ...]
    wall_seconds: float
    cpu_seconds: float
    train_pairs_per_second: float
    device: str
    size_bytes: int


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


def _encode_pairs(
    pairs: Sequence[RePair], encoder: MarkerEncoder, label2id: Mapping[str, int]
) -> FeatureDataset:
    features, cut = [], 0
    for pair in pairs:
        ids, was_cut = encoder.encode(pair.text)
        cut += was_cut
        features.append(
            {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label2id[pair.label]}
        )
    if cut:
        logger.info("%d of %d candidates read in a window around their mentions", cut, len(pairs))
    return FeatureDataset(features)


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
    model_ref: str, data_path: Path, *, device: str | None = None, batch_size: int = 32
) -> ReScores:
    """Score a relation classifier on a CoNLL04 JSON file, with gold entities.

    A predicted relation is correct iff head span and type, tail span and type and
    the relation type all match a gold relation (strict; micro and per type).

    Raises:
        InputError: The file is missing.
        ModelLoadError: The model cannot be loaded.
    """
    if not data_path.is_file():
        raise InputError(f"data file {data_path} does not exist")
    return evaluate_examples(
        model_ref, read_conll04(data_path), device=device, batch_size=batch_size
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


def _write_model_card(out: Path, card: dict[str, Any], dev: ReScores) -> None:
    write_card_json(out, card)
    data = card["data"]
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


def train_re(
    train: Path,
    dev: Path | None = None,
    *,
    base: str,
    out: Path,
    epochs: float = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 42,
    lora_rank: int | None = 32,
    max_length: int = 128,
    patience: int = 2,
    max_steps: int = -1,
    dev_fraction: float = 0.1,
    negative_ratio: float | None = None,
    label_map: Mapping[str, str] | None = None,
    entity_label_map: Mapping[str, str] | None = None,
    pooling: str = ENTITY_START,
    device: str | None = None,
    bf16: bool | None = None,
    command: str | None = None,
) -> ReTrainResult:
    """Fine-tune an entity-marker relation classifier on CoNLL04 JSON and save it.

    Args:
        train: Training file (CoNLL04 JSON, see :func:`kgbuild.readers.relations.read_conll04`).
        dev: Dev file scored after every epoch; ``None`` holds out ``dev_fraction`` of
            the training sentences (seeded).
        base: Base encoder reference (``pypi:...``, local folder or Hub id).
        out: Output folder (created; files in it are overwritten).
        epochs: Maximum number of epochs (early stopping may end sooner).
        learning_rate: Peak learning rate (linear decay, 6% warm-up).
        batch_size: Candidate pairs per training batch.
        seed: Seed for initialisation, sampling, shuffling and dropout.
        lora_rank: LoRA rank (alpha = 2 x rank) on every linear layer, with the
            classifier (and a ``[CLS]`` model's pooler) and the marker-token rows
            trained in full; ``None``
            (or 0) fine-tunes all weights.
        max_length: Maximum sub-tokens per candidate (longer ones are read in a window
            around the two mentions).
        patience: Epochs without dev F1 improvement before stopping (epochs while the
            model still predicts no relation at all, dev F1 0, do not count).
        max_steps: Stop after this many optimisation steps (``-1``: no limit).
        dev_fraction: Share of training sentences held out when ``dev`` is ``None``.
        negative_ratio: Keep at most this many ``no_relation`` training pairs per
            positive pair (a seeded sample, fixed for the run); ``None`` keeps all.
        label_map: Rename data relation labels for the model (e.g. to schema types).
        entity_label_map: Data entity type -> marker type (default: CoNLL04's).
        pooling: ``"entity_start"``: classify from the hidden states at the head and
            tail markers (:class:`kgbuild.nlp.pair_classifier.EntityPairClassifier`);
            ``"cls"``: a standard ``AutoModelForSequenceClassification`` (``[CLS]``).
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        bf16: bf16 autocast; ``None`` turns it on where the hardware supports it natively.
        command: Command line recorded in the model card (default: ``sys.argv``).

    Returns:
        ReTrainResult: Output folder, labels, dev scores of the re-loaded model, timing.

    Raises:
        InputError: A data file is missing or holds no usable pair, or an option is
            out of range.
        ModelLoadError: The base model cannot be loaded.
    """
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        EvalPrediction,
        set_seed,
    )

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for path in (train, dev):
        if path is not None and not path.is_file():
            raise InputError(f"data file {path} does not exist")
    if epochs <= 0 or batch_size <= 0 or learning_rate <= 0 or max_length < 8:
        raise InputError("epochs, batch_size and learning_rate must be > 0, max_length >= 8")
    if not 0 < dev_fraction < 1 or (negative_ratio is not None and negative_ratio < 0):
        raise InputError("dev_fraction must be in (0, 1) and negative_ratio >= 0")
    if pooling not in POOLINGS:
        raise InputError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    rank = lora_rank or None
    train_examples = read_conll04(train)
    if dev is None:
        train_examples, dev_examples = _split_dev(train_examples, dev_fraction, seed)
    else:
        dev_examples = read_conll04(dev)
    entity_map = dict(CONLL04_ENTITY_TYPES if entity_label_map is None else entity_label_map)
    relabel = dict(label_map or {})
    train_pairs = build_pairs(train_examples, entity_label_map=entity_map, label_map=relabel)
    dev_pairs = build_pairs(dev_examples, entity_label_map=entity_map, label_map=relabel)
    if not train_pairs or not dev_pairs:
        raise InputError(f"no candidate entity pairs in {train if not train_pairs else dev}")
    n_all_train = len(train_pairs)
    no_relation_weight = 1.0
    if negative_ratio is not None:
        positives = [p for p in train_pairs if p.label != NO_RELATION]
        negatives = [p for p in train_pairs if p.label == NO_RELATION]
        keep = min(len(negatives), round(negative_ratio * len(positives)))
        # Undo the sampling at prediction: the model saw no_relation keep/len times as
        # often as it occurs, so its no_relation probability is scaled back up.
        no_relation_weight = len(negatives) / keep if keep else 1.0
        sampled = set(random.Random(seed).sample(range(len(negatives)), keep))
        kept_neg = {id(p) for i, p in enumerate(negatives) if i in sampled}
        train_pairs = [p for p in train_pairs if p.label != NO_RELATION or id(p) in kept_neg]
    relation_labels = sorted({p.label for p in [*train_pairs, *dev_pairs]} - {NO_RELATION})
    labels = [NO_RELATION, *relation_labels]
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    entity_types = sorted(
        {
            entity_map.get(e.label, e.label)
            for ex in [*train_examples, *dev_examples]
            for e in ex.entities
        }
    )
    markers = marker_tokens(entity_types)

    set_seed(seed)
    target = pick_device(device)
    resolved = resolve_model_ref(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"base model {base!r}: a fast tokenizer is required")
        tokenizer.add_tokens(markers, special_tokens=True)
        model: Any
        if pooling == ENTITY_START:
            heads, tails = opening_marker_ids(tokenizer, markers)
            model = EntityPairClassifier(
                AutoModel.from_pretrained(resolved), id2label, heads, tails
            )
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                resolved, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
            )
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"base model {base!r}: cannot load it: {e}") from e
    base_revision = model_revision(resolved, model.config)
    resize_embeddings(model, len(tokenizer))
    encoder = MarkerEncoder(tokenizer, markers, max_length)
    marker_ids = sorted(encoder.marker_ids)
    modules_to_save = ["classifier"]
    if pooling != ENTITY_START and any(
        name.endswith("pooler") for name, _ in model.named_modules()
    ):
        modules_to_save.append("pooler")
    if rank is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        embedding_name = next(
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if module is model.get_input_embeddings()
        )
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=rank,
            lora_alpha=2 * rank,
            lora_dropout=0.1,
            target_modules=list(LORA_TARGET_MODULES),
            modules_to_save=list(modules_to_save),  # peft extends the list it is given
            trainable_token_indices={embedding_name: marker_ids},
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
            model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info(
        "%d training pairs (%d before negative sampling), %d dev pairs; trainable "
        "parameters: %d of %d",
        len(train_pairs),
        n_all_train,
        len(dev_pairs),
        trainable,
        total,
    )
    train_data = _encode_pairs(train_pairs, encoder, label2id)
    dev_data = _encode_pairs(dev_pairs, encoder, label2id)
    dev_gold = gold_keys(dev_examples, relabel)

    n_gold = sum(len(set(keys)) for keys in dev_gold)

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        # The Trainer may reorder evaluation rows (length grouping), so count per row:
        # with gold entities, a predicted relation is strictly correct iff its pair's
        # gold label is the same relation (equal to relation_scores on the same pairs).
        pred_ids = np.asarray(prediction.predictions).reshape(-1)
        gold_ids = np.asarray(prediction.label_ids).reshape(-1)
        no_relation = label2id[NO_RELATION]
        predicted = int((pred_ids != no_relation).sum())
        correct = int(((pred_ids == gold_ids) & (gold_ids != no_relation)).sum())
        precision = correct / predicted if predicted else 0.0
        recall = correct / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    class _PatientEarlyStopping(EarlyStoppingCallback):
        """Early stopping that does not count epochs with a dev F1 of 0.

        A relation classifier first predicts only ``no_relation`` (the prior) for an
        epoch or more; those epochs say nothing about over-fitting.
        """

        def check_metric_value(
            self, args: Any, state: Any, control: Any, metric_value: Any
        ) -> None:
            if not metric_value and not state.best_metric:
                return
            super().check_metric_value(args, state, control, metric_value)  # type: ignore[no-untyped-call]

    use_bf16 = bf16_supported(target) if bf16 is None else bf16
    fitted = fit(
        model,
        tokenizer,
        name="re",
        train_data=train_data,
        dev_data=dev_data,
        collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        preprocess_logits=lambda logits, _labels: undo_negative_sampling(
            logits, label2id[NO_RELATION], no_relation_weight
        ).argmax(dim=-1),
        callbacks=[_PatientEarlyStopping(early_stopping_patience=patience)],
        device=target,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        bf16=use_bf16,
    )
    model = fitted.model

    manifest = {
        "base": base,
        "task": "sequence-classification",
        "labels": labels,
        "entity_types": entity_types,
        "markers": markers,
        "entity_label_map": entity_map,
        "label_map": relabel,
        "max_length": max_length,
        "no_relation_weight": no_relation_weight,
        "pooling": pooling,
    }
    save_trained(model, tokenizer, out, lora=rank is not None, manifest=manifest)

    clear_model_cache()
    dev_scores = evaluate_examples(str(out), dev_examples, device=str(target), batch_size=64)
    clear_model_cache()

    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    dev_data_card: dict[str, Any] = (
        {"path": str(dev.resolve()), "sha256": sha256_file(dev), "sentences": len(dev_examples)}
        if dev is not None
        else {
            "split_from": str(train.resolve()),
            "fraction": dev_fraction,
            "sentences": len(dev_examples),
        }
    )
    dev_data_card["pairs"] = len(dev_pairs)
    card: dict[str, Any] = {
        "task": "sequence-classification (relation extraction, typed entity markers)",
        "pooling": pooling,
        "method": f"LoRA r={rank} alpha={2 * rank}" if rank is not None else "full fine-tune",
        "base": base,
        "base_resolved": resolved,
        "base_revision": base_revision,
        "labels": labels,
        "markers": markers,
        "entity_label_map": entity_map,
        "label_map": relabel,
        "data": {
            "train": {
                "path": str(train.resolve()),
                "sha256": sha256_file(train),
                "sentences": len(train_examples),
                "pairs": len(train_pairs),
                "pairs_before_sampling": n_all_train,
            },
            "dev": dev_data_card,
        },
        "command": command if command is not None else shlex.join(sys.argv),
        "seed": seed,
        "hyperparameters": {
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "lora_rank": rank,
            "lora_alpha": 2 * rank if rank is not None else None,
            "lora_dropout": 0.1 if rank is not None else None,
            "lora_target_modules": list(LORA_TARGET_MODULES) if rank is not None else None,
            "modules_to_save": modules_to_save if rank is not None else None,
            "max_length": max_length,
            "patience": patience,
            "max_steps": max_steps,
            "negative_ratio": negative_ratio,
            "scheduler": "linear, warmup 6%",
            "weight_decay": 0.01,
            "bf16_autocast": use_bf16,
        },
        "trainable_parameters": trainable,
        "no_relation_weight": no_relation_weight,
        "epochs_run": fitted.epochs,
        "steps": fitted.steps,
        "best_checkpoint_dev_f1": fitted.best_dev_f1,
        "dev_f1_per_epoch": list(fitted.dev_f1_per_epoch),
        "dev_scores": dev_scores.model_dump(),
        "timing": {
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "train_seconds": fitted.train_seconds,
            "train_pairs_per_second": fitted.examples_per_second,
        },
        "device": str(target),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
    _write_model_card(out, card, dev_scores)
    return ReTrainResult(
        out_dir=out,
        labels=tuple(labels),
        dev=dev_scores,
        best_dev_f1_during_training=fitted.best_dev_f1,
        epochs_run=fitted.epochs,
        steps=fitted.steps,
        train_pairs=len(train_pairs),
        train_losses=fitted.train_losses,
        wall_seconds=wall,
        cpu_seconds=cpu,
        train_pairs_per_second=fitted.examples_per_second,
        device=str(target),
        size_bytes=dir_size(out),
    )
