"""The stage registry: model stages by name, each with its config, inputs and outputs.

Modelled on spaCy's ``@Language.factory``: a stage is registered once, under a name,
with the :class:`~kgbuild.config.Settings` section that configures it, what it reads from
a batch and what it assigns to it. :class:`~kgbuild.extraction.Extractor` walks the
configured stage names in order, asks each factory for its stage (a factory returns
``None`` when its stage is switched off for these settings), and runs the stages over
each :class:`StageBatch`. The built-in stages are registered in
:mod:`kgbuild.stages.factories`.

A new stage needs a factory here and its name in the extractor's stage list; its model
key and language gate come from the :class:`Stage` it returns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from kgbuild.config import Settings
from kgbuild.data import Chunk, Document, Mention, MentionAttribute, MentionRelation
from kgbuild.errors import ConfigError

if TYPE_CHECKING:
    from kgbuild.schema import GraphSchema

__all__ = [
    "FIELDS",
    "Stage",
    "StageBatch",
    "StageContext",
    "StageFactory",
    "get_factory",
    "output_settings",
    "registered",
    "stage_factory",
    "stage_key",
]

FIELDS = (
    "chunks",
    "langs",
    "mentions",
    "relations",
    "attribute_relations",
    "attributes",
    "refused",
    "not_asked",
)
"""What a stage may read from or assign to a :class:`StageBatch`."""


@dataclass
class StageBatch:
    """One batch of documents as it goes through the stages (each stage adds its part).

    ``skipped`` names, per document, the stages whose model does not read its language;
    :meth:`chunks_for` and :meth:`mentions_for` leave those documents out. ``unread``
    names, per stage, the chunks of other documents that its model does not read (a
    Chinese paragraph in an English document); :meth:`chunks_for` leaves them out too.
    """

    documents: Sequence[Document]
    chunks: dict[str, list[Chunk]]
    langs: dict[str, str]
    skipped: dict[str, tuple[str, ...]]
    unread: dict[str, frozenset[str]] = field(default_factory=dict)
    """Stage label -> ids of chunks in a script its model does not read."""
    mentions: list[Mention] = field(default_factory=list)
    relations: list[MentionRelation] = field(default_factory=list)
    """Relations between mention ids."""
    attribute_relations: list[MentionRelation] = field(default_factory=list)
    """Relations below the relation stage's operating point but at the attribute step's
    (read by the attribute step alone, never stored as relations)."""
    attributes: list[MentionAttribute] = field(default_factory=list)
    """Attributes of mention ids."""
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Per (document id, relation type or attribute): answers refused as not of the type."""
    not_asked: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Per (document id, relation type): entities of its domain not asked its question,
    not being of its ``head_kinds``."""

    def chunks_for(self, label: str) -> list[Chunk]:
        """The chunks of the documents that stage ``label`` reads, in document order."""
        unread = self.unread.get(label, frozenset())
        return [
            chunk
            for doc in self.documents
            if label not in self.skipped[doc.id]
            for chunk in self.chunks[doc.id]
            if chunk.id not in unread
        ]

    def mentions_for(self, label: str) -> list[Mention]:
        """The mentions of the documents that stage ``label`` reads."""
        return [m for m in self.mentions if label not in self.skipped[m.doc_id]]


@runtime_checkable
class Stage(Protocol):
    """A built model stage: what :class:`~kgbuild.extraction.Extractor` runs.

    ``label`` is the short name used in model keys and in a document's skipped stages;
    ``languages`` what its model reads (``None``: any language). ``__call__`` reads its
    inputs from the batch (only documents it reads: :meth:`StageBatch.chunks_for`) and
    assigns its outputs to it.
    """

    @property
    def label(self) -> str:
        """Short name in model keys and skipped stages."""
        ...

    @property
    def languages(self) -> frozenset[str] | None:
        """What the stage's model reads (``None``: any language)."""
        ...

    @property
    def model_key(self) -> str:
        """The models and every setting that changes what the stage assigns."""
        ...

    def __call__(self, batch: StageBatch) -> None:
        """Read the batch and assign this stage's outputs to it."""
        ...


@dataclass
class StageContext:
    """What a factory is given besides the settings: the run and the stages built so far."""

    run_id: str
    progress: bool = False
    built: list[Stage] = field(default_factory=list)
    _schema: GraphSchema | None = None

    def schema(self, settings: Settings) -> GraphSchema:
        """The run's graph schema (loaded once, on first use)."""
        if self._schema is None:
            from kgbuild.schema import load_schema

            self._schema = load_schema(settings.schema_path)
        return self._schema

    def stage(self, label: str) -> Stage | None:
        """The built stage of ``label``, if any."""
        return next((s for s in self.built if s.label == label), None)


Make = Callable[[Settings, StageContext], Stage | None]


@dataclass(frozen=True)
class StageFactory:
    """A registered stage: how to build it and what it needs.

    Attributes:
        name: Registry name, e.g. ``"relations.document"``.
        label: Short name of the built stage (model keys, skipped stages), e.g. ``"re"``.
        section: The :class:`~kgbuild.config.Settings` field that configures it.
        config: That field's config class.
        reads: :class:`StageBatch` fields it reads.
        assigns: :class:`StageBatch` fields it writes.
        make: Builds the stage, or returns ``None`` when it is off for these settings.
    """

    name: str
    label: str
    section: str
    config: type[BaseModel]
    reads: tuple[str, ...]
    assigns: tuple[str, ...]
    make: Make

    def build(self, settings: Settings, context: StageContext) -> Stage | None:
        """The stage for ``settings``, or ``None`` (off)."""
        return self.make(settings, context)


_REGISTRY: dict[str, StageFactory] = {}


def stage_factory(
    name: str,
    *,
    label: str,
    section: str,
    reads: Sequence[str],
    assigns: Sequence[str],
) -> Callable[[Make], Make]:
    """Register the decorated function as the factory of stage ``name``.

    Raises:
        ConfigError: ``name`` is already registered, ``section`` is no settings section,
            or ``reads``/``assigns`` name something a batch does not hold.
    """
    if name in _REGISTRY:
        raise ConfigError(f"stage {name!r} is registered twice")
    section_field = Settings.model_fields.get(section)
    config = section_field.annotation if section_field is not None else None
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise ConfigError(f"stage {name!r}: {section!r} is not a settings section")
    unknown = sorted((set(reads) | set(assigns)) - set(FIELDS))
    if unknown:
        raise ConfigError(f"stage {name!r}: a batch holds no {unknown} (only {FIELDS})")

    def register(make: Make) -> Make:
        _REGISTRY[name] = StageFactory(
            name, label, section, config, tuple(reads), tuple(assigns), make
        )
        return make

    return register


def get_factory(name: str) -> StageFactory:
    """The factory registered as ``name``.

    Raises:
        ConfigError: no stage of that name (names the registered ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"no stage named {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def output_settings(config: BaseModel, *, unused: Collection[str] = ()) -> dict[str, Any]:
    """The fields of ``config`` that change a stage's output, as plain JSON-able values.

    Every field but those the config class declares run-time-only (its
    ``run_time_fields``: batch sizes, device) and ``unused`` (fields of a shared config
    that this stage never reads). Sets become sorted lists, so the result does not depend
    on the process's hash seed.
    """
    exempt = set(getattr(type(config), "run_time_fields", ())) | set(unused)
    return {name: _canonical(value) for name, value in config.model_dump(exclude=exempt).items()}


def stage_key(
    config: BaseModel,
    resolved: Mapping[str, Any] | None = None,
    *,
    unused: Collection[str] = (),
) -> str:
    """A stage's model key: :func:`output_settings` of ``config`` plus what it resolved.

    ``resolved`` holds what the config does not say: the model's name and revision (in
    place of the configured ``model`` reference), the precision it runs at (in place of
    ``auto``), a digest of the schema it reads... A resolved value replaces the field of
    the same name. The ledger re-extracts a document when its stored key differs.

    >>> from kgbuild.config import ChunkConfig
    >>> stage_key(ChunkConfig())
    '{"max_sentence_chars":2000}'
    """
    fields = output_settings(config, unused=unused)
    fields.update((name, _canonical(value)) for name, value in (resolved or {}).items())
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> Any:
    """``value`` with sets sorted, tuples as lists and paths as strings (for JSON)."""
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def registered() -> list[StageFactory]:
    """Every registered stage, in registration order."""
    return list(_REGISTRY.values())
