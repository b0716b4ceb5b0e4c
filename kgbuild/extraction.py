"""The model stages of a run, built once per process: chunking, NER, relations, attributes.

:class:`Extractor` is what a batch of documents goes through; its ``model_key`` names
every model and setting that changes the output, which the ledger compares to decide
whether a document's stored result can be reused. A document in a language that a
stage's model does not declare (manifest ``languages``) is chunked but not read by that
stage, and the stage is named in its ``skipped_stages``. With relations enabled, relation
types the schema gives a question template and the relation model does not predict (or
that are marked ``extract: template``) are read by the zero-shot stage
(:mod:`kgbuild.stages.zeroshot`); the relation model's predictions of types read by
template are dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kgbuild.config import Settings
from kgbuild.data import Attribute, Chunk, Document, Mention, Relation
from kgbuild.lang import covers, model_languages
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ner import NerStage

if TYPE_CHECKING:
    from kgbuild.schema import GraphSchema
    from kgbuild.stages.doc_relations import DocRelationStage
    from kgbuild.stages.relations import RelationStage
    from kgbuild.stages.zeroshot import TemplateRelationStage

__all__ = ["DocumentExtraction", "Extractor"]

log = logging.getLogger(__name__)

DOCUMENT_RELATIONS = "document-relation-classification"
"""Manifest task of a document-level relation model."""


@dataclass(frozen=True)
class DocumentExtraction:
    """What the model stages found in one document (relations and attributes name mention ids)."""

    document: Document
    chunks: tuple[Chunk, ...]
    mentions: tuple[Mention, ...]
    relations: tuple[Relation, ...]
    attributes: tuple[Attribute, ...] = ()
    skipped_stages: tuple[str, ...] = ()
    """Stages whose model does not read the document's language (they did not run on it)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Per relation type or attribute: answers refused as not of its type."""


class Extractor:
    """Chunking, NER and (when enabled) relations and attributes over batches of documents.

    With ``progress``, each model stage reports its progress over a long batch (a bar on a
    terminal, INFO log lines otherwise: :func:`kgbuild.progress.track`).
    """

    def __init__(self, settings: Settings, *, run_id: str, progress: bool = False) -> None:
        self.settings = settings
        self.ner = NerStage(settings.ner, run_id=run_id, progress=progress)
        self.relations: RelationStage | DocRelationStage | None = None
        self.templates: TemplateRelationStage | None = None
        self.attributes = None
        only_templates = not settings.relations.enabled and bool(settings.templates.types)
        if settings.relations.enabled or settings.attributes.enabled or only_templates:
            from kgbuild.schema import load_schema

            schema = load_schema(settings.schema_path)
        if settings.relations.enabled:
            self.relations = _relation_stage(settings, schema, run_id, progress=progress)
        if settings.relations.enabled or only_templates:
            self.templates = _template_stage(
                settings, schema, self.relations, run_id, progress=progress
            )
        if settings.attributes.enabled:
            from kgbuild.stages.attributes import AttributeStage

            self.attributes = AttributeStage(
                settings.attributes,
                schema=schema,
                run_id=run_id,
                resolve=settings.resolve,
                progress=progress,
            )
        self.languages = {"ner": self.ner.languages}
        """What each stage's model reads (``None``: any language)."""
        if self.relations is not None:
            loaded = self.relations.loaded
            self.languages["re"] = model_languages(loaded.manifest, loaded.name)
        if self.attributes is not None and self.attributes.reading is not None:
            loaded = self.attributes.reading.reader.loaded
            self.languages["attributes"] = model_languages(loaded.manifest, loaded.name)
        if self.templates is not None:
            loaded = self.templates.reading.reader.loaded
            self.languages["templates"] = model_languages(loaded.manifest, loaded.name)

    @property
    def model_key(self) -> str:
        """Every model and setting that changes what a document yields."""
        key = f"chunk:{self.settings.chunking.max_sentence_chars}|ner:{self.ner.model_key}"
        if self.relations is not None:
            key += f"|re:{self.relations.model_key}"
        if self.templates is not None:
            key += f"|zs:{self.templates.model_key}"
        if self.attributes is not None:
            key += f"|attr:{self.attributes.model_key}"
        return key

    def __call__(self, documents: Sequence[Document]) -> list[DocumentExtraction]:
        """Run the stages over ``documents`` as one batch (one model pass per stage)."""
        chunks = {doc.id: chunk_document(doc, self.settings.chunking) for doc in documents}
        langs = {doc.id: doc.lang for doc in documents}
        skipped = {
            doc.id: tuple(s for s, read in self.languages.items() if not covers(read, doc.lang))
            for doc in documents
        }
        for doc in documents:
            if skipped[doc.id]:
                log.warning(
                    "%s: language %r is not read by the %s model(s): not run on it",
                    doc.source,
                    doc.lang,
                    ", ".join(skipped[doc.id]),
                )

        def read_by(stage: str) -> list[Chunk]:
            return [c for doc in documents if stage not in skipped[doc.id] for c in chunks[doc.id]]

        mentions = self.ner(read_by("ner"), langs)
        relations = (
            self.relations(read_by("re"), [m for m in mentions if "re" not in skipped[m.doc_id]])
            if self.relations is not None
            else []
        )
        refused: Counter[tuple[str, str]] = Counter()
        if self.templates is not None:
            templated = self.templates.types
            relations = [r for r in relations if r.type not in templated]
            relations += self.templates(
                read_by("templates"),
                [m for m in mentions if "templates" not in skipped[m.doc_id]],
            )
            refused.update(self.templates.refused)
        attributes = (
            self.attributes(
                read_by("attributes"),
                [m for m in mentions if "attributes" not in skipped[m.doc_id]],
                langs,
            )
            if self.attributes is not None
            else []
        )
        if self.attributes is not None:
            refused.update(self.attributes.refused)
        refused_by_doc: dict[str, dict[str, int]] = {doc.id: {} for doc in documents}
        for (doc_id, kind), count in sorted(refused.items()):
            refused_by_doc.setdefault(doc_id, {})[kind] = count
        mentions_by_doc: dict[str, list[Mention]] = {doc.id: [] for doc in documents}
        for mention in mentions:
            mentions_by_doc[mention.doc_id].append(mention)
        relations_by_doc: dict[str, list[Relation]] = {doc.id: [] for doc in documents}
        for relation in relations:
            relations_by_doc[relation.evidence[0].provenance.doc_id].append(relation)
        attributes_by_doc: dict[str, list[Attribute]] = {doc.id: [] for doc in documents}
        for attribute in attributes:
            attributes_by_doc[attribute.evidence[0].provenance.doc_id].append(attribute)
        return [
            DocumentExtraction(
                doc,
                tuple(chunks[doc.id]),
                tuple(mentions_by_doc[doc.id]),
                tuple(relations_by_doc[doc.id]),
                tuple(attributes_by_doc[doc.id]),
                skipped[doc.id],
                refused_by_doc[doc.id],
            )
            for doc in documents
        ]


def _template_stage(
    settings: Settings,
    schema: GraphSchema,
    relations: RelationStage | DocRelationStage | None,
    run_id: str,
    *,
    progress: bool,
) -> TemplateRelationStage | None:
    """The zero-shot stage for the templated types the relation model does not cover.

    Without a relation stage (relations off), only the types of ``templates.types``.
    """
    from kgbuild.errors import ConfigError
    from kgbuild.stages.zeroshot import TemplateRelationStage, template_types

    config = settings.templates
    if not config.enabled:
        return None
    try:
        if relations is None:
            types = tuple(schema.relation_type(name) for name in config.types)
            template_types(schema, (), config.types)  # each must have a question
        else:
            predicted = {t for t in _predicted_types(relations) if t}
            types = template_types(schema, predicted, config.types)
    except KeyError as exc:
        raise ConfigError(f"templates.types: {exc.args[0]}") from exc
    if not types:
        return None
    log.info("relation types read by template (zero-shot): %s", ", ".join(r.name for r in types))
    return TemplateRelationStage(
        config, relation_types=types, run_id=run_id, resolve=settings.resolve, progress=progress
    )


def _predicted_types(relations: RelationStage | DocRelationStage) -> list[str | None]:
    """The schema types the relation model can output."""
    from kgbuild.stages.doc_relations import DocRelationStage

    if isinstance(relations, DocRelationStage):
        return list(relations.types)
    return list(relations.types.values())


def _relation_stage(
    settings: Settings, schema: GraphSchema, run_id: str, *, progress: bool
) -> RelationStage | DocRelationStage:
    """The relation stage the configured model reads with (document or sentence level)."""
    from kgbuild.models import resolve_task_model
    from kgbuild.nlp.hf import model_task

    if model_task(resolve_task_model("re", settings.relations.model)) == DOCUMENT_RELATIONS:
        from kgbuild.stages.doc_relations import DocRelationStage

        return DocRelationStage(
            settings.relations,
            schema=schema,
            run_id=run_id,
            resolve=settings.resolve,
            progress=progress,
        )
    from kgbuild.stages.relations import RelationStage

    return RelationStage(settings.relations, schema=schema, run_id=run_id, progress=progress)
