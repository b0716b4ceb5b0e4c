"""Typed, frozen data models passed between pipeline stages.

Every object refers to others by id, never by reference, so a batch serialises
cleanly (JSON, Prefect results, Neo4j rows) and ids stay stable across runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

__all__ = [
    "METADATA_PREFIX",
    "Attribute",
    "Chunk",
    "CoOccurrence",
    "Document",
    "DocumentFailure",
    "DocumentInfo",
    "DocumentLink",
    "DocumentResult",
    "Entity",
    "Evidence",
    "GraphDelta",
    "Mention",
    "MentionAttribute",
    "MentionRelation",
    "Merge",
    "Provenance",
    "Relation",
    "Score",
    "SkippedSentences",
    "Span",
    "metadata_properties",
]

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class Frozen(BaseModel):
    """Base for all pipeline data: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class _StoredUnderOldKeys(Frozen):
    """Base of mention-level findings whose fields are aliased to the run ledger's old keys.

    The ledger stored them before mention- and entity-level findings were told apart; they
    are read by either name and written under the alias.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class Span(Frozen):
    """A half-open character span ``[start, end)`` into a document's text."""

    start: NonNegativeInt
    end: NonNegativeInt

    @model_validator(mode="after")
    def _check_order(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"span end {self.end} must be greater than start {self.start}")
        return self


class DocumentInfo(Frozen):
    """A document version without its text: what the run ledger and the graph keep of it."""

    id: str
    source: str
    content_hash: str
    lang: str = "en"
    metadata: dict[str, str] = Field(default_factory=dict)


class Document(DocumentInfo):
    """One input document, as read from disk (text is never modified)."""

    text: str

    @property
    def info(self) -> DocumentInfo:
        """The document without its text."""
        return DocumentInfo(
            id=self.id,
            source=self.source,
            content_hash=self.content_hash,
            lang=self.lang,
            metadata=self.metadata,
        )


METADATA_PREFIX = "meta_"
"""Prefix of a document's metadata entries as graph properties (``meta_author``)."""


def metadata_properties(metadata: Mapping[str, str]) -> dict[str, str]:
    """A document's metadata as flat node properties: ``meta_<key>``, in key order."""
    return {f"{METADATA_PREFIX}{key}": metadata[key] for key in sorted(metadata)}


class DocumentFailure(Frozen):
    """A document (or input file) that a stage could not process, and why."""

    source: str
    stage: str
    error: str
    doc_id: str | None = None


class Chunk(Frozen):
    """A sentence of a document, with offsets into the original text."""

    id: str
    doc_id: str
    index: NonNegativeInt
    span: Span
    text: str


class Provenance(Frozen):
    """Where a fact came from: document, chunk, offsets, score, model and run."""

    doc_id: str
    chunk_id: str
    span: Span
    score: Score
    model: str
    model_revision: str
    run_id: str
    stage: str


class Mention(Frozen):
    """A typed entity mention found by a model in one chunk."""

    id: str
    text: str
    label: str
    provenance: Provenance

    @property
    def doc_id(self) -> str:
        """Id of the document this mention is in."""
        return self.provenance.doc_id

    @property
    def span(self) -> Span:
        """Character span of the mention in its document."""
        return self.provenance.span

    @property
    def score(self) -> float:
        """Model confidence for the mention."""
        return self.provenance.score


class Merge(Frozen):
    """Why entity resolution joined two names into one entity (so it can be checked).

    ``rule`` is one of :data:`kgbuild.stages.resolve.RULES` (each has a setting that
    turns it off); ``score`` is the rule's evidence on a 0-100 scale (``fuzz.ratio``
    for fuzzy matches, the winner's share of mentions for majority rules, 100 for
    exact rules). ``source`` (with its NER label) is the name that joined ``target``;
    ``doc_ids`` are the documents a within-document rule applied in (empty for rules
    over the whole corpus).
    """

    rule: str
    score: float = Field(ge=0.0, le=100.0)
    source: str
    source_label: str
    target: str
    target_label: str
    doc_ids: tuple[str, ...] = ()


class Entity(Frozen):
    """A resolved real-world entity: a cluster of mentions across documents.

    ``label`` is the majority label of its mentions; ``merges`` say why its names
    were joined (none for an entity of one name).
    """

    id: str
    label: str
    name: str
    aliases: tuple[str, ...]
    mention_ids: tuple[str, ...]
    doc_ids: tuple[str, ...]
    merges: tuple[Merge, ...] = ()


class Evidence(Frozen):
    """The text span a relation or attribute was read from.

    For a relation, ``head``/``tail`` are the head's and the tail's mentions that the
    evidence sentence holds (or the nearest ones in the document), by mention id.
    """

    provenance: Provenance
    text: str
    head: str | None = None
    tail: str | None = None

    @classmethod
    def of_chunk(
        cls,
        chunk: Chunk,
        *,
        score: float,
        model: str,
        model_revision: str,
        run_id: str,
        stage: str,
        head: str | None = None,
        tail: str | None = None,
    ) -> Evidence:
        """The evidence of a fact read in ``chunk`` (its sentence, at its offsets)."""
        return cls(
            provenance=Provenance(
                doc_id=chunk.doc_id,
                chunk_id=chunk.id,
                span=chunk.span,
                score=score,
                model=model,
                model_revision=model_revision,
                run_id=run_id,
                stage=stage,
            ),
            text=chunk.text,
            head=head,
            tail=tail,
        )


class MentionRelation(_StoredUnderOldKeys):
    """A typed, directed relation between two mentions, as a stage read it (by mention id).

    Entity resolution lifts it to a :class:`Relation`. The run ledger stores it under the
    keys ``head`` and ``tail`` (its format from before mention- and entity-level
    relations were told apart), which it is still read from.
    """

    id: str
    head_mention: str = Field(alias="head")
    tail_mention: str = Field(alias="tail")
    type: str
    score: Score
    evidence: tuple[Evidence, ...]


class Relation(Frozen):
    """A typed, directed relation between two entities (by entity id), lifted from mentions."""

    id: str
    head: str
    tail: str
    type: str
    score: Score
    evidence: tuple[Evidence, ...]


AttributeValueType = Literal[
    "date", "year", "number", "quantity", "string", "entity", "location", "text"
]


class MentionAttribute(_StoredUnderOldKeys):
    """A slot value of a mention's local entity, as a stage read it (by mention id).

    Entity resolution lifts it to an :class:`Attribute`. The run ledger stores the mention
    id under the key ``entity`` (its format from before mention- and entity-level
    attributes were told apart), which it is still read from.
    """

    id: str
    mention: str = Field(alias="entity")
    key: str
    value: str | int | float | bool
    value_type: AttributeValueType = "text"
    score: Score
    evidence: tuple[Evidence, ...]


class Attribute(Frozen):
    """A slot value of an entity (by entity id), e.g. a founding year, with evidence."""

    id: str
    entity: str
    key: str
    value: str | int | float | bool
    value_type: AttributeValueType = "text"
    score: Score
    evidence: tuple[Evidence, ...]


class SkippedSentences(Frozen):
    """Sentences of a document in a language that some stages' models do not read.

    A paragraph of Chinese in an English document: the English models read the rest of the
    document and leave these sentences out (see :func:`kgbuild.lang.script_lang`).
    """

    lang: str
    stages: tuple[str, ...]
    sentences: NonNegativeInt


class DocumentResult(Frozen):
    """What extraction made of one document version, or why it failed.

    The model stages produce it, the run ledger stores it (chunks, mentions, relations
    and attributes; a failure is recorded as the document's status instead) and gives it
    back to resolution and the graph. Relations and attributes name mention ids.
    ``skipped_stages``, ``skipped_sentences``, ``refused`` and ``not_asked`` describe the run
    that extracted it and are not stored: a result read from the ledger has them empty.
    """

    document: DocumentInfo
    chunks: tuple[Chunk, ...] = ()
    mentions: tuple[Mention, ...] = ()
    relations: tuple[MentionRelation, ...] = ()
    attributes: tuple[MentionAttribute, ...] = ()
    failure: DocumentFailure | None = None
    """Why extraction failed (then the result holds no findings)."""
    skipped_stages: tuple[str, ...] = ()
    """Stages not run on the document: their model does not read its language."""
    skipped_sentences: tuple[SkippedSentences, ...] = ()
    """Sentences some stages left out: their model does not read the sentences' script."""
    refused: dict[str, int] = Field(default_factory=dict)
    """Per relation type or attribute: answers refused as not of its type."""
    not_asked: dict[str, int] = Field(default_factory=dict)
    """Per templated relation type: entities of its domain not asked, not of its kinds."""
    model_key: str | None = None
    """The ledger key of this result where it is not the build's: a document no language
    model can read is keyed without them (:meth:`kgbuild.extraction.Extractor.document_key`)."""

    @model_validator(mode="after")
    def _failure_has_no_findings(self) -> DocumentResult:
        if self.failure is not None and (
            self.chunks or self.mentions or self.relations or self.attributes
        ):
            raise ValueError(
                f"document {self.document.id!r}: a failed result holds no chunks, mentions, "
                "relations or attributes"
            )
        return self

    @property
    def doc_id(self) -> str:
        """Id of the document."""
        return self.document.id

    @property
    def ok(self) -> bool:
        """Whether extraction succeeded."""
        return self.failure is None


class CoOccurrence(Frozen):
    """Two entities named near each other (``source`` < ``target`` by id).

    See :mod:`kgbuild.graph.cooccurrence`.
    """

    id: str
    source: str
    target: str
    count: int
    docs: tuple[str, ...]


class DocumentLink(Frozen):
    """An entity mentioned ``count`` times in a document."""

    id: str
    entity: str
    doc_id: str
    count: int


class GraphDelta(Frozen):
    """What one persist brings into the graph store: the rows to MERGE, the documents to retire.

    The application builds it from the stored results and their resolution (see
    :func:`kgbuild.graph.delta.graph_delta`); the store writes it as given. Not a
    :class:`DocumentResult` per document: it holds the documents and chunks to (re)write
    but every current mention (to re-link), and relations and attributes lifted to
    entities across documents.
    """

    run_id: str
    documents: tuple[DocumentInfo, ...] = ()
    """Documents to (re)write, with their ``chunks``."""
    chunks: tuple[Chunk, ...] = ()
    entities: tuple[Entity, ...] = ()
    mentions: tuple[Mention, ...] = ()
    """Current mentions, each linked to its entity."""
    mention_entity: dict[str, str] = Field(default_factory=dict)
    """Mention id -> entity id (empty: taken from the entities' ``mention_ids``)."""
    relations: tuple[Relation, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    cooccurrences: tuple[CoOccurrence, ...] = ()
    """Every current ``CO_OCCURS`` edge (the others are deleted)."""
    document_links: tuple[DocumentLink, ...] = ()
    """Every current ``IN_DOCUMENT`` edge (the others are deleted)."""
    retired: tuple[str, ...] = ()
    """Ids of rewritten or deleted documents: what their earlier versions contributed and
    this delta does not hold is removed after the write."""
    symmetric_types: tuple[str, ...] = ()
    """Relation types stored once per pair, from the smaller entity id: their edges that
    run the other way are removed after the write."""

    def entity_of(self) -> dict[str, str]:
        """Mention id -> entity id of every linked mention."""
        return self.mention_entity or {m: e.id for e in self.entities for m in e.mention_ids}
