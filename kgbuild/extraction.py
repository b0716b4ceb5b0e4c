"""The model stages of a run, built once per process: chunking, then the registered stages.

:class:`Extractor` is what a batch of documents goes through. It chunks the documents and
walks its stage names (default :data:`~kgbuild.stages.factories.DEFAULT_STAGES`: NER,
sentence- or document-level relations, attributes, zero-shot relations) through the
stage registry (:mod:`kgbuild.stages.registry`); a factory builds its stage only when the
settings turn it on. Its ``model_key`` names every model and setting that changes the
output, which the ledger compares to decide whether a document's stored result can be
reused (:meth:`Extractor.document_key`: less the NER language models that cannot read
the document). A document in a language that a stage's model does not declare (manifest
``languages``) is chunked but not read by that stage, and the stage is named in its
``skipped_stages``. With relations enabled, relation types the schema gives a question
template and the relation model does not predict (or that are marked ``extract:
template``) are read by the zero-shot stage (:mod:`kgbuild.stages.zeroshot`); the relation
model's predictions of types read by template are dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from kgbuild.config import Settings
from kgbuild.data import (
    Chunk,
    Document,
    DocumentResult,
    Mention,
    MentionAttribute,
    MentionRelation,
    SkippedSentences,
)
from kgbuild.lang import base_language, covers, script_lang
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.factories import (
    DEFAULT_STAGES,
    AttributesStep,
    NerStep,
    RelationsStep,
    ZeroShotStep,
)
from kgbuild.stages.grouping import shared_grouping
from kgbuild.stages.registry import Stage, StageBatch, StageContext, get_factory, stage_key

if TYPE_CHECKING:
    from kgbuild.stages.attributes import AttributeStage
    from kgbuild.stages.doc_relations import DocRelationStage
    from kgbuild.stages.ner import NerStage
    from kgbuild.stages.relations import RelationStage
    from kgbuild.stages.zeroshot import TemplateRelationStage

__all__ = ["Extractor"]

log = logging.getLogger(__name__)


class Extractor:
    """Chunking and the configured model stages over batches of documents.

    ``stages``: registered stage names, walked in order (see
    :mod:`kgbuild.stages.registry`). With ``progress``, each model stage reports its
    progress over a long batch (a bar on a terminal, INFO log lines otherwise:
    :func:`kgbuild.progress.track`).

    Raises:
        ConfigError: a stage name is not registered, or a stage's settings are invalid.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        run_id: str,
        progress: bool = False,
        stages: Sequence[str] = DEFAULT_STAGES,
    ) -> None:
        self.settings = settings
        context = StageContext(run_id=run_id, progress=progress)
        for name in stages:
            stage = get_factory(name).build(settings, context)
            if stage is not None:
                context.built.append(stage)
        self.stages: tuple[Stage, ...] = tuple(context.built)
        """The built stages, in the order they run."""
        self._document_keys: dict[frozenset[str], str] = {}

    def _step(self, label: str) -> Stage | None:
        return next((s for s in self.stages if s.label == label), None)

    @property
    def ner(self) -> NerStage:
        """The NER stage.

        Raises:
            LookupError: the extractor was built without one.
        """
        step = self._step("ner")
        if not isinstance(step, NerStep):
            raise LookupError("this extractor has no NER stage")
        return step.stage

    @property
    def relations(self) -> RelationStage | DocRelationStage | None:
        """The relation stage, if relations are on."""
        step = self._step("re")
        return step.stage if isinstance(step, RelationsStep) else None

    @property
    def templates(self) -> TemplateRelationStage | None:
        """The zero-shot relation stage, if it reads any type."""
        step = self._step("templates")
        return step.stage if isinstance(step, ZeroShotStep) else None

    @property
    def attributes(self) -> AttributeStage | None:
        """The attribute stage, if attributes are on."""
        step = self._step("attributes")
        return step.stage if isinstance(step, AttributesStep) else None

    @property
    def languages(self) -> dict[str, frozenset[str] | None]:
        """What each stage's model reads (``None``: any language)."""
        return {stage.label: stage.languages for stage in self.stages}

    @property
    def model_key(self) -> str:
        """Every model and setting that changes what a document yields."""
        return self._key()

    def _key(self, ner: NerStep | None = None, routed: frozenset[str] = frozenset()) -> str:
        """The stages' keys; ``ner``'s with only the language models of ``routed``."""
        key = f"chunk:{stage_key(self.settings.chunking)}"
        return key + "".join(
            f"|{stage.label}:{ner.key_for(routed) if stage is ner else stage.model_key}"
            for stage in self.stages
        )

    def _routed_ner(self) -> NerStep | None:
        """The NER step, where it has language models."""
        ner = self._step("ner")
        return ner if isinstance(ner, NerStep) and ner.routed_languages else None

    def document_key(self, document: Document) -> str:
        """The model key the ledger keeps with ``document``'s result.

        :attr:`model_key` less the NER language models (``ner.language_models``) that
        cannot read any of it: neither the document's language nor any script of its text
        is routed to them (:func:`~kgbuild.lang.script_languages`). Adding a Chinese model so
        re-reads the documents that hold Chinese, not every English one, and adding a
        ``zh-TW`` one only the documents in ``zh-TW``.
        """
        ner = self._routed_ner()
        if ner is None:
            return self.model_key
        routed = ner.routes_of(document.lang, document.text)
        key = self._document_keys.get(routed)
        if key is None:  # one per set of languages, not per document
            key = self._document_keys[routed] = self._key(ner, routed)
        return key

    def __call__(self, documents: Sequence[Document]) -> list[DocumentResult]:
        """Run the stages over ``documents`` as one batch (one model pass per stage).

        Relations and attributes of the results name mention ids; a result whose
        :meth:`document_key` is not :attr:`model_key` carries it.
        """
        languages = self.languages
        skipped = {
            doc.id: tuple(s for s, read in languages.items() if not covers(read, doc.lang))
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
        chunks = {doc.id: chunk_document(doc, self.settings.chunking) for doc in documents}
        unread, skipped_sentences = _unread_sentences(documents, chunks, languages, skipped)
        batch = StageBatch(
            documents,
            chunks=chunks,
            langs={doc.id: doc.lang for doc in documents},
            skipped=skipped,
            unread=unread,
        )
        with shared_grouping():  # relations, zero-shot and attributes group documents alike
            for stage in self.stages:
                stage(batch)
        results = _by_document(batch, skipped_sentences)
        if self._routed_ner() is None:  # one key for every document
            return results
        build_key = self.model_key
        keys = [self.document_key(doc) for doc in documents]
        return [
            result if key == build_key else result.model_copy(update={"model_key": key})
            for result, key in zip(results, keys, strict=True)
        ]


def _unread_sentences(
    documents: Sequence[Document],
    chunks: dict[str, list[Chunk]],
    languages: dict[str, frozenset[str] | None],
    skipped: dict[str, tuple[str, ...]],
) -> tuple[dict[str, frozenset[str]], dict[str, tuple[SkippedSentences, ...]]]:
    """Chunks whose script a stage's model does not read, in documents the stage reads.

    A document's language is read from its start; a paragraph in another script (Chinese
    in an English report) would go through a model that cannot read it and come out as
    confident nonsense. Returns, per stage, the chunk ids to leave out, and per document
    what was left out (logged here, counted in the run summary).
    """
    unread: dict[str, set[str]] = {label: set() for label in languages}
    counts: dict[str, Counter[tuple[str, tuple[str, ...]]]] = {}
    for doc in documents:
        for chunk in chunks[doc.id]:
            lang = script_lang(chunk.text)
            if lang is None or lang == base_language(doc.lang):  # "zh" in a "zh-TW" document
                continue
            stages = tuple(
                label
                for label, read in languages.items()
                if label not in skipped[doc.id] and not covers(read, lang)
            )
            for label in stages:
                unread[label].add(chunk.id)
            if stages:
                counts.setdefault(doc.id, Counter())[lang, stages] += 1
    by_doc = {doc.id: doc for doc in documents}
    for doc_id, found in counts.items():
        for (lang, stages), n in sorted(found.items()):
            log.warning(
                "%s: %d sentence(s) in language %r not read by the %s model(s): left out",
                by_doc[doc_id].source,
                n,
                lang,
                ", ".join(stages),
            )
    return (
        {label: frozenset(ids) for label, ids in unread.items() if ids},
        {
            doc_id: tuple(
                SkippedSentences(lang=lang, stages=stages, sentences=n)
                for (lang, stages), n in sorted(found.items())
            )
            for doc_id, found in counts.items()
        },
    )


def _by_document(
    batch: StageBatch, skipped_sentences: Mapping[str, tuple[SkippedSentences, ...]] | None = None
) -> list[DocumentResult]:
    """The batch's findings split per document, in document order.

    ``skipped_sentences`` (by document id) names each document's sentences no stage read.
    """
    documents = batch.documents
    refused_by_doc = _per_document(batch.refused, documents)
    not_asked_by_doc = _per_document(batch.not_asked, documents)
    mentions_by_doc: dict[str, list[Mention]] = {doc.id: [] for doc in documents}
    for mention in batch.mentions:
        mentions_by_doc[mention.doc_id].append(mention)
    relations_by_doc: dict[str, list[MentionRelation]] = {doc.id: [] for doc in documents}
    for relation in batch.relations:
        relations_by_doc[relation.evidence[0].provenance.doc_id].append(relation)
    attributes_by_doc: dict[str, list[MentionAttribute]] = {doc.id: [] for doc in documents}
    for attribute in batch.attributes:
        attributes_by_doc[attribute.evidence[0].provenance.doc_id].append(attribute)
    return [
        DocumentResult(
            document=doc.info,
            chunks=tuple(batch.chunks[doc.id]),
            mentions=tuple(mentions_by_doc[doc.id]),
            relations=tuple(relations_by_doc[doc.id]),
            attributes=tuple(attributes_by_doc[doc.id]),
            skipped_stages=batch.skipped[doc.id],
            skipped_sentences=(skipped_sentences or {}).get(doc.id, ()),
            refused=refused_by_doc[doc.id],
            not_asked=not_asked_by_doc[doc.id],
        )
        for doc in documents
    ]


def _per_document(
    counts: Counter[tuple[str, str]], documents: Sequence[Document]
) -> dict[str, dict[str, int]]:
    """``(document id, type) -> count`` as ``document id -> {type: count}``."""
    out: dict[str, dict[str, int]] = {doc.id: {} for doc in documents}
    for (doc_id, kind), count in sorted(counts.items()):
        out.setdefault(doc_id, {})[kind] = count
    return out
