"""The built-in model stages, registered with :mod:`kgbuild.stages.registry`.

Each factory wraps one stage class (NER, sentence- or document-level relations, zero-shot
relations, attributes) in a small adapter that reads its inputs from a
:class:`~kgbuild.stages.registry.StageBatch` and assigns its outputs to it; the stage
classes themselves keep their own call signatures. Stage modules are imported inside the
factories, so a run loads only the models and code of the stages it uses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from itertools import chain
from typing import TYPE_CHECKING

from kgbuild.config import Settings
from kgbuild.errors import ConfigError
from kgbuild.lang import model_languages
from kgbuild.stages.registry import StageBatch, StageContext, stage_factory

if TYPE_CHECKING:
    from kgbuild.schema import GraphSchema, RelationType
    from kgbuild.stages.attributes import AttributeStage
    from kgbuild.stages.doc_relations import DocRelationStage
    from kgbuild.stages.ner import NerStage
    from kgbuild.stages.ner_languages import LanguageModels
    from kgbuild.stages.relations import RelationStage
    from kgbuild.stages.zeroshot import TemplateRelationStage

__all__ = [
    "DEFAULT_STAGES",
    "DOCUMENT_RELATIONS",
    "AttributesStep",
    "NerStep",
    "RelationsStep",
    "ZeroShotStep",
]

log = logging.getLogger(__name__)

DOCUMENT_RELATIONS = "document-relation-classification"
"""Manifest task of a document-level relation model."""

DEFAULT_STAGES = (
    "ner",
    "relations.sentence",
    "relations.document",
    "zeroshot",
    "attributes",
)
"""The stages an extractor walks, in order (each builds only when its settings turn it on).

Zero-shot relations and attributes read the same mentions, but keep this order: both rank
sentences with one cached sentence encoder, whose embeddings depend (in the last bits) on
the batch that first computed them, so the order can change which sentence is read."""


class NerStep:
    """The NER stage over a batch: reads chunks and languages, assigns mentions.

    ``declared``: the schema's entity types. A mention of a type a model predicts and
    the schema does not declare (TIME from a wide model under ``schema_path: business``) is
    refused and counted, never stored (a ``label_map`` rename to an undeclared type is a
    configuration error instead, raised when the stage is built). ``by_language``: the
    models of ``ner.language_models``, which read the text in their languages in place of
    ``stage`` (:mod:`kgbuild.stages.ner_languages`).
    """

    label = "ner"

    def __init__(
        self,
        stage: NerStage,
        declared: frozenset[str] | None = None,
        by_language: LanguageModels | None = None,
    ) -> None:
        self.stage = stage
        self.by_language = by_language
        labels = set(stage.labels)
        if by_language is not None:
            labels.update(chain.from_iterable(by_language.labels().values()))
        self.undeclared = frozenset(labels) - declared if declared is not None else frozenset()
        """The models' types the schema does not declare (their mentions are refused)."""

    @property
    def languages(self) -> frozenset[str] | None:
        """What the NER models read: the build's model's languages and the routed ones."""
        if self.by_language is None or self.stage.languages is None:
            return self.stage.languages
        return self.stage.languages | self.by_language.languages

    @property
    def routed_languages(self) -> frozenset[str]:
        """The languages read by a language model of their own (none without them)."""
        return frozenset() if self.by_language is None else self.by_language.languages

    def routes_of(self, lang: str, text: str) -> frozenset[str]:
        """The routed languages whose models can read some of a document in ``lang`` of ``text``."""
        return frozenset() if self.by_language is None else self.by_language.routes_of(lang, text)

    @property
    def model_key(self) -> str:
        """The NER models and their output-changing settings (and the types refused)."""
        return self.key_for(None)

    def key_for(self, langs: Collection[str] | None) -> str:
        """:attr:`model_key` of the models that can read text in ``langs`` (``None``: all).

        A language model of a language not in ``langs`` is left out with its types: what
        it would read is not there.
        """
        key, undeclared = self.stage.model_key, self.undeclared
        if self.by_language is not None:
            routed = {
                lang: model
                for lang, model in self.by_language.key.items()
                if langs is None or lang in langs
            }
            if routed:
                key += f"+by_language:{json.dumps(routed, sort_keys=True)}"
            if langs is not None:
                labels = set(self.stage.labels)
                for lang, found in self.by_language.labels().items():
                    if lang in routed:
                        labels.update(found)
                undeclared = undeclared & labels
        if not undeclared:
            return key
        return f"{key}-{','.join(sorted(undeclared))}"

    def __call__(self, batch: StageBatch) -> None:
        """Find the mentions of the chunks of the documents the models read."""
        chunks = batch.chunks_for(self.label)
        if self.by_language is None:
            found = self.stage(chunks, batch.langs)
        else:
            found = self.by_language.read(self.stage, chunks, batch.langs)
        batch.mentions = [m for m in found if m.label not in self.undeclared]
        for mention in found:
            if mention.label in self.undeclared:
                batch.refused[mention.doc_id, f"{mention.label} mention"] += 1


class RelationsStep:
    """A relation stage (sentence or document level): reads chunks and mentions.

    Assigns relations between mention ids.
    """

    label = "re"

    def __init__(self, stage: RelationStage | DocRelationStage) -> None:
        self.stage = stage

    @property
    def languages(self) -> frozenset[str] | None:
        """What the relation model reads."""
        loaded = self.stage.loaded
        return model_languages(loaded.manifest, loaded.name)

    @property
    def model_key(self) -> str:
        """The relation model and its output-changing settings."""
        return self.stage.model_key

    def predicted_types(self) -> list[str | None]:
        """The schema types the relation model can output."""
        from kgbuild.stages.doc_relations import DocRelationStage

        if isinstance(self.stage, DocRelationStage):
            return list(self.stage.types)
        return list(self.stage.types.values())

    def __call__(self, batch: StageBatch) -> None:
        """Classify the mention pairs of the documents the model reads."""
        batch.relations = self.stage(batch.chunks_for(self.label), batch.mentions_for(self.label))
        from kgbuild.stages.doc_relations import DocRelationStage

        if isinstance(self.stage, DocRelationStage):
            batch.attribute_relations = self.stage.below


class ZeroShotStep:
    """Template relations: replace those of its types; count refusals and entities not asked."""

    label = "templates"

    def __init__(self, stage: TemplateRelationStage) -> None:
        self.stage = stage

    @property
    def languages(self) -> frozenset[str] | None:
        """What the QA model reads."""
        loaded = self.stage.reading.reader.loaded
        return model_languages(loaded.manifest, loaded.name)

    @property
    def model_key(self) -> str:
        """The QA model, the templates and the reading settings."""
        return self.stage.model_key

    def __call__(self, batch: StageBatch) -> None:
        """Drop the relation model's relations of the templated types; add the template's."""
        templated = self.stage.types
        relations = [r for r in batch.relations if r.type not in templated]
        relations += self.stage(batch.chunks_for(self.label), batch.mentions_for(self.label))
        batch.relations = relations
        batch.refused.update(self.stage.refused)
        batch.not_asked.update(self.stage.wrong_kind)


class AttributesStep:
    """Attribute filling: reads chunks, mentions, languages and relations; assigns attributes.

    ``relations``: a relation stage of its own, run for the types behind the attributes
    it fills from relations when the build's relation stage is off (``None``: the
    batch's relations are read). Either way the relation stage's facts between the
    attributes' operating point and its own (``below``, ``attribute_relations``) are read
    too.
    """

    label = "attributes"

    def __init__(self, stage: AttributeStage, relations: DocRelationStage | None = None) -> None:
        self.stage = stage
        self.relations = relations

    @property
    def languages(self) -> frozenset[str] | None:
        """What the QA and relation models read (``None``: no model, any language)."""
        read: list[frozenset[str] | None] = []
        if self.stage.reading is not None:
            loaded = self.stage.reading.reader.loaded
            read.append(model_languages(loaded.manifest, loaded.name))
        if self.relations is not None:
            loaded = self.relations.loaded
            read.append(model_languages(loaded.manifest, loaded.name))
        known = [languages for languages in read if languages is not None]
        if not known:
            return None
        return frozenset.intersection(*known)

    @property
    def model_key(self) -> str:
        """The models, the attribute specs and the reading settings."""
        if self.relations is None:
            return self.stage.model_key
        return f"{self.stage.model_key}+{self.relations.model_key}"

    def __call__(self, batch: StageBatch) -> None:
        """Fill the attributes of the entities of the documents the models read."""
        chunks, mentions = batch.chunks_for(self.label), batch.mentions_for(self.label)
        if self.relations is None:
            relations = [*batch.relations, *batch.attribute_relations]
        else:
            relations = [*self.relations(chunks, mentions), *self.relations.below]
        batch.attributes = self.stage(chunks, mentions, batch.langs, relations)
        batch.refused.update(self.stage.refused)


@stage_factory("ner", label="ner", section="ner", reads=("chunks", "langs"), assigns=("mentions",))
def make_ner(settings: Settings, context: StageContext) -> NerStep:
    """Token-classification NER (always on), with a model per language where configured."""
    from kgbuild.models import resolve_language_models
    from kgbuild.stages.ner import NerStage
    from kgbuild.stages.ner_languages import LanguageModels

    declared = frozenset(t.name for t in context.schema(settings).entity_types)
    stage = NerStage(settings.ner, run_id=context.run_id, progress=context.progress)
    routes = resolve_language_models("ner", settings.ner.language_models)
    by_language = (
        LanguageModels(settings.ner, routes, run_id=context.run_id, progress=context.progress)
        if routes
        else None
    )
    step = NerStep(stage, declared, by_language)
    renamed = sorted(step.undeclared & set(settings.ner.label_map.values()))
    if renamed:  # a rename of the user's own that the schema lacks is a mistake, not a refusal
        raise ConfigError(
            f"ner.label_map renames model labels to {', '.join(renamed)}, which the graph "
            f"schema ({settings.schema_path or 'wikidata'}) does not declare; declared: {', '.join(sorted(declared))}"
        )
    main = stage.loaded.name
    models = {main: stage.labels}
    routed: dict[str, list[str]] = {}  # a language model -> the languages it reads here
    if by_language is not None:
        for lang, labels in by_language.labels().items():
            if by_language.refs[lang] != main:  # the build's model reads that text anyway
                models[by_language.refs[lang]] = labels
                routed.setdefault(by_language.refs[lang], []).append(lang)
    for name, labels in models.items():
        refused = sorted(step.undeclared & set(labels))
        if refused:
            log.info(
                "NER model %s predicts types the schema does not declare (refused): %s",
                name,
                ", ".join(refused),
            )
        unfound = sorted(declared - set(labels))
        if unfound:  # no entity, relation or attribute of these types can come out
            log.warning(
                "the graph schema (%s) declares entity types that NER model %s never predicts "
                "(none of them, nor relations and attributes of them, will be found%s): %s; "
                "the model predicts %s",
                settings.schema_path or "wikidata",
                name,
                _text_read(name, main, routed),
                ", ".join(unfound),
                ", ".join(labels) or "nothing",
            )
    return step


def _text_read(name: str, main: str, routed: dict[str, list[str]]) -> str:
    """Which text NER model ``name`` reads, as its warning of missing types says it.

    ``main``: the build's model, which reads all text but that of ``routed`` (a language
    model -> the languages routed to it). Empty where ``name`` reads all text.

    >>> _text_read("m", "m", {}), _text_read("m", "m", {"z": ["zh", "zh-tw"]})
    ('', ' in the text it reads: all but the zh, zh-tw text that ner.language_models routes to other models')
    >>> _text_read("z", "m", {"z": ["zh"]})
    ' in the zh text that ner.language_models routes to it; m reads the rest'
    """
    if name != main:
        return (
            f" in the {', '.join(routed[name])} text that ner.language_models routes to it; "
            f"{main} reads the rest"
        )
    others = sorted(chain.from_iterable(routed.values()))
    if not others:
        return ""
    return (
        f" in the text it reads: all but the {', '.join(others)} text that "
        "ner.language_models routes to other models"
    )


def _document_level(settings: Settings) -> bool:
    from kgbuild.models import resolve_task_model
    from kgbuild.nlp.hf import model_task

    return model_task(resolve_task_model("re", settings.relations.model)) == DOCUMENT_RELATIONS


@stage_factory(
    "relations.sentence",
    label="re",
    section="relations",
    reads=("chunks", "mentions"),
    assigns=("relations",),
)
def make_sentence_relations(settings: Settings, context: StageContext) -> RelationsStep | None:
    """Entity-marker pair classification, when relations are on and the model reads sentences."""
    if not settings.relations.enabled or _document_level(settings):
        return None
    from kgbuild.stages.relations import RelationStage

    return RelationsStep(
        RelationStage(
            settings.relations,
            schema=context.schema(settings),
            run_id=context.run_id,
            progress=context.progress,
        )
    )


@stage_factory(
    "relations.document",
    label="re",
    section="relations",
    reads=("chunks", "mentions"),
    assigns=("relations", "attribute_relations"),
)
def make_document_relations(settings: Settings, context: StageContext) -> RelationsStep | None:
    """Document-level relations, when relations are on and the model reads documents."""
    if not settings.relations.enabled or not _document_level(settings):
        return None
    from kgbuild.stages.doc_relations import DocRelationStage

    return RelationsStep(
        DocRelationStage(
            settings.relations,
            schema=context.schema(settings),
            run_id=context.run_id,
            resolve=settings.resolve,
            progress=context.progress,
        )
    )


@stage_factory(
    "attributes",
    label="attributes",
    section="attributes",
    reads=("chunks", "mentions", "langs", "relations", "attribute_relations"),
    assigns=("attributes", "refused"),
)
def make_attributes(settings: Settings, context: StageContext) -> AttributesStep | None:
    """The schema's attributes, when ``attributes.enabled``.

    With ``attributes.from_relations``, the attributes whose Wikidata property the
    relation model predicts come from its relations: the build's relation stage when
    relations are on, else a document-level relation stage of the attribute step's own
    that reads those types alone.
    """
    if not settings.attributes.enabled:
        return None
    from kgbuild.stages.attributes import AttributeStage, attribute_relation_types
    from kgbuild.stages.doc_relations import DocRelationStage

    schema = context.schema(settings)
    relation_types: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    own: DocRelationStage | None = None
    reader: DocRelationStage | None = None  # whose facts below its own point are values
    if settings.attributes.from_relations:
        built = context.stage("re")
        if isinstance(built, RelationsStep):
            predicted = [t for t in built.predicted_types() if t]
            relation_types = attribute_relation_types(schema.attributes, schema, predicted)
            if isinstance(built.stage, DocRelationStage):
                thresholds = _thresholds(built.stage, settings.attributes.min_precision)
                reader = built.stage
        elif _fillable_from_relations(schema) and _document_level(settings):
            own = DocRelationStage(
                settings.relations,
                schema=schema,
                run_id=context.run_id,
                resolve=settings.resolve,
                progress=context.progress,
            )
            predicted = [t for t in own.types if t]
            relation_types = attribute_relation_types(schema.attributes, schema, predicted)
            thresholds = _thresholds(own, settings.attributes.min_precision)
            if relation_types:
                own.keep_only(relation_types.values())
                reader = own
            else:
                own = None
    thresholds = {t: thresholds[t] for t in relation_types.values() if t in thresholds}
    if reader is not None:
        reader.keep_below(thresholds)  # the attributes' point, where laxer than the relations'
    if relation_types:
        log.info(
            "attributes from the relation model: %s",
            ", ".join(f"{a} ({t})" for a, t in sorted(relation_types.items())),
        )
    return AttributesStep(
        AttributeStage(
            settings.attributes,
            schema=schema,
            run_id=context.run_id,
            resolve=settings.resolve,
            progress=context.progress,
            relation_types=relation_types,
            relation_thresholds=thresholds,
        ),
        own,
    )


def _fillable_from_relations(schema: GraphSchema) -> bool:
    """Whether an attribute shares its Wikidata property with a declared relation type.

    Without one no relation model can fill an attribute, so none is loaded for it.
    """
    from kgbuild.stages.attributes import attribute_relation_types

    declared = [r.name for r in schema.relation_types]
    return bool(attribute_relation_types(schema.attributes, schema, declared))


def _thresholds(stage: DocRelationStage, min_precision: float) -> dict[str, float]:
    try:
        return stage.type_thresholds(min_precision)
    except ValueError as exc:
        raise ConfigError(f"attributes.min_precision: {exc}") from exc


@stage_factory(
    "zeroshot",
    label="templates",
    section="templates",
    reads=("chunks", "mentions", "relations"),
    assigns=("relations", "refused", "not_asked"),
)
def make_zero_shot(settings: Settings, context: StageContext) -> ZeroShotStep | None:
    """The templated relation types the relation model does not cover.

    With relations on: every templated type the relation model does not predict (or that
    is forced). With relations off, only the types of ``templates.types``. ``None`` when
    templates are off or no type is left.

    Raises:
        ConfigError: a type of ``templates.types`` is not declared or has no question.
    """
    from kgbuild.stages.zeroshot import TemplateRelationStage, template_types

    config = settings.templates
    relations = context.stage("re")
    if isinstance(relations, RelationsStep) and not config.enabled:
        _say_unfound_relation_types(settings, context.schema(settings), relations, ())
    only_templates = not settings.relations.enabled and bool(config.types)
    if not (settings.relations.enabled or only_templates) or not config.enabled:
        if config.enabled:  # on, yet it reads nothing: say why rather than build without it
            templated = [r.name for r in context.schema(settings).templated_relations]
            log.warning(
                "templates.enabled is on but no relation type is read by template: with "
                "relations.enabled off, only the types listed in templates.types are (the "
                "schema's types with a question: %s); list them there, or turn "
                "relations.enabled on",
                ", ".join(templated) or "none",
            )
        return None
    schema = context.schema(settings)
    try:
        if not isinstance(relations, RelationsStep):
            template_types(schema, (), config.types)  # each must be declared, with a question
            types = tuple(schema.relation_type(name) for name in config.types)
        else:
            predicted = {t for t in relations.predicted_types() if t}
            types = template_types(schema, predicted, config.types)
    except KeyError as exc:
        raise ConfigError(f"templates.types: {exc.args[0]}") from exc
    if isinstance(relations, RelationsStep):
        _say_unfound_relation_types(settings, schema, relations, types)
    if not types:
        return None
    log.info("relation types read by template (zero-shot): %s", ", ".join(r.name for r in types))
    return ZeroShotStep(
        TemplateRelationStage(
            config,
            relation_types=types,
            run_id=context.run_id,
            resolve=settings.resolve,
            kinds=schema.kind_pool,
            progress=context.progress,
        )
    )


def _say_unfound_relation_types(
    settings: Settings,
    schema: GraphSchema,
    relations: RelationsStep,
    templated: Sequence[RelationType],
) -> None:
    """Warn of the schema's relation types that neither the relation model nor a template finds.

    A model's label stands for a type by its name or its ``wikidata`` id; a type without
    one, and without a question to read it by (or marked ``extract: model``), is never
    extracted. Types left to their question while ``templates.enabled`` is off are named at
    INFO: that is the default, not a mistake.
    """
    predicted = {t for t in relations.predicted_types() if t}
    read_by_template = {r.name for r in templated}
    unfound = [r for r in schema.relation_types if r.name not in predicted | read_by_template]
    never = [
        r.name + (" (extract: model)" if r.question else "")
        for r in unfound
        if r.question is None or r.extract == "model"
    ]
    model = relations.stage.loaded.name
    shown = sorted(predicted)[:10] + (["..."] if len(predicted) > 10 else [])
    if never:
        log.warning(
            "the graph schema (%s) declares relation types that relation model %s does not "
            "predict and no question template reads (none of them will be found): %s; a "
            "model's label stands for a type by its name or its wikidata id (the model "
            "predicts %s); give a type a question (read with templates.enabled), or set "
            "relations.model to a model that predicts it",
            settings.schema_path or "wikidata",
            model,
            ", ".join(never),
            ", ".join(shown) or "none of the schema's types",
        )
    if read_by_template and not predicted & schema.relation_names:
        log.info(
            "relation model %s predicts none of the schema's relation types: only question "
            "templates find relations, and relations.enabled off with templates.types: [%s] "
            "reads the same without running it",
            model,
            ", ".join(sorted(read_by_template)),
        )
    left = [r.name for r in unfound if r.question is not None and r.extract != "model"]
    if left and not settings.templates.enabled:
        log.info(
            "relation types read only by their question template, with templates.enabled "
            "off (not extracted): %s",
            ", ".join(left),
        )
