"""End-to-end evaluation: NER then relation extraction over predicted entities.

On a CoNLL04-style file (tokens, gold entities, gold relations), the NER model tags
every sentence; its entities (types mapped to the data's types through the relation
model's ``entity_label_map``) become the candidates of the relation model. A predicted
relation counts only if both predicted entities have the gold boundaries and types and
the relation type is right (strict), so NER errors cost relation recall and precision
exactly as they do in the pipeline. The same relation model's gold-entity score is
reported beside it, to show what NER costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgbuild.nlp.hf import load_sequence_classifier
from kgbuild.readers.files import check_data_file
from kgbuild.readers.relations import EntitySpan, RelationExample, read_conll04
from kgbuild.training.metrics import NerScores, ner_scores
from kgbuild.training.ner import predict_tags
from kgbuild.training.re import (
    CONLL04_ENTITY_TYPES,
    evaluate_examples,
    gold_keys,
    manifest_maps,
    predict_relations,
)
from kgbuild.training.re_metrics import ReScores, relation_scores

__all__ = ["PipelineScores", "bio_spans", "evaluate_pipeline"]


class PipelineScores(BaseModel):
    """Entity scores of the NER model, and strict relation scores end to end and on gold entities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sentences: int
    entities: NerScores
    relations_end_to_end: ReScores
    relations_gold_entities: ReScores


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity spans ``(start, end, type)`` (end exclusive) of a BIO/BIOES tag sequence.

    An ``I-`` tag that does not continue an entity of its type starts one (the
    conlleval convention, as seqeval's default mode).
    """
    spans: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for index, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix in {"I", "E"} and label == kind and start >= 0
        if start >= 0 and not continues:
            spans.append((start, index, kind))
            start, kind = -1, ""
        if prefix in {"B", "S"} or (prefix in {"I", "E"} and not continues):
            start, kind = index, label
        if prefix in {"E", "S"} and start >= 0:
            spans.append((start, index + 1, kind))
            start, kind = -1, ""
    return spans


def _tags(length: int, spans: Sequence[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * length
    for start, end, label in spans:
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
    return tags


def evaluate_pipeline(
    ner_model: str,
    re_model: str,
    data_path: Path,
    *,
    device: str | None = None,
    batch_size: int = 32,
    encoding: str = "utf-8",
) -> PipelineScores:
    """Score NER and end-to-end relation extraction on a CoNLL04 JSON file.

    Args:
        ner_model: Token-classification model reference (its types are mapped to the
            data's through the relation model's ``entity_label_map``, by default
            CoNLL04's ``Peop``/``Org``/``Loc``/``Other`` <-> ``PER``/``ORG``/``LOC``/``MISC``).
        re_model: Relation model reference (from ``kgbuild train re``).
        data_path: CoNLL04 JSON with gold entities and relations.
        device: ``"cpu"``, ``"cuda"``... or ``None`` for automatic.
        batch_size: Sentences or candidate pairs per forward pass.
        encoding: The data file's text encoding.

    Returns:
        PipelineScores: NER entity scores (in the model's types), strict relation
        scores from predicted entities and from gold entities.

    Raises:
        InputError: The data file is missing.
        ModelLoadError: A model cannot be loaded.
    """
    check_data_file(data_path)
    examples = read_conll04(data_path, encoding=encoding)
    loaded = load_sequence_classifier(re_model, device=device)
    entity_map, label_map = manifest_maps(loaded.manifest)
    to_model = entity_map or dict(CONLL04_ENTITY_TYPES)
    to_data = {model_type: data_type for data_type, model_type in to_model.items()}

    predicted_tags = predict_tags(
        ner_model, [list(e.tokens) for e in examples], device=device, batch_size=batch_size
    )
    gold_tags = [
        _tags(
            len(e.tokens),
            [(s.start, s.end, to_model.get(s.label, s.label)) for s in e.entities],
        )
        for e in examples
    ]
    predicted_examples = [
        RelationExample(
            tokens=example.tokens,
            entities=tuple(
                EntitySpan(start=start, end=end, label=to_data.get(kind, kind))
                for start, end, kind in bio_spans(tags)
            ),
            relations=(),
        )
        for example, tags in zip(examples, predicted_tags, strict=True)
    ]
    end_to_end = relation_scores(
        gold_keys(examples, label_map),
        predict_relations(re_model, predicted_examples, device=device, batch_size=batch_size),
    )
    return PipelineScores(
        sentences=len(examples),
        entities=ner_scores(gold_tags, predicted_tags),
        relations_end_to_end=end_to_end,
        relations_gold_entities=evaluate_examples(
            re_model, examples, device=device, batch_size=batch_size
        ),
    )
