"""The graph schema: entity types, relation types (domain, range) and attributes.

Schemas are YAML files in ``schemas/``; :func:`load_schema` validates one and names
the offending field on error. JSON Schemas of the schema file and of the pipeline's
data models are generated from this code (``python -m kgbuild.schema``) and kept in
``schemas/``; a test checks that they agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgbuild.errors import ConfigError
from kgbuild.resources import resource_dir

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = [
    "DEFAULT_SCHEMA_PATH",
    "ENTITY_VALUE_TYPES",
    "NO_RELATION",
    "RESERVED_ENTITY_LABELS",
    "RESERVED_RELATION_TYPES",
    "AttributeSpec",
    "EntityType",
    "GraphSchema",
    "QuantityUnit",
    "RelationType",
    "SchemaText",
    "fill_question",
    "generated_json_schemas",
    "load_schema",
    "load_unique_yaml",
    "parse_schema",
    "read_schema_text",
    "schema_file",
]

SCHEMAS_DIR = resource_dir("schemas")
"""The shipped schemas when kgbuild was imported (``KGBUILD_SCHEMAS_DIR`` overrides it)."""
DEFAULT_SCHEMA_NAME = "wikidata"
# libyaml's safe loader where PyYAML has it: the wide schema parses in 6 ms instead of 60
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_SCHEMA_PATH = SCHEMAS_DIR / f"{DEFAULT_SCHEMA_NAME}.yaml"
"""The default schema: Wikidata's relation types as annotated in Re-DocRED."""

RESERVED_RELATION_TYPES = frozenset(
    {
        "PART_OF",
        "IN_CHUNK",
        "REFERS_TO",
        "HAS_ATTRIBUTE",
        "MENTIONED_IN",
        "CO_OCCURS",
        "IN_DOCUMENT",
    }
)
"""Relationship types of the graph's own structure (documents, chunks, mentions): a schema's
relation types may not reuse them."""

RESERVED_ENTITY_LABELS = frozenset(
    {"Document", "Chunk", "Mention", "Entity", "Attribute", "GraphState"}
)
"""Node labels of the graph's own structure in Neo4j (an entity is ``:Entity:<type>``): a
schema's entity types may not reuse them."""

NO_RELATION = "no_relation"
"""The label of relation classifiers for a pair with no relation (never a graph edge, never
scored)."""

_TYPE_NAME = r"^[A-Z][A-Za-z0-9_]*$"
_RELATION_NAME = r"^[A-Z][A-Z0-9_]*$"
_ATTRIBUTE_NAME = r"^[a-z][a-z0-9_]*$"
_WIKIDATA_ID = r"^P[1-9][0-9]*$"
_KIND_NAME = r"^\S(.*\S)?$"
_PATTERN_WORDS = {
    _TYPE_NAME: "an uppercase letter, then letters, digits or _ (it becomes a Neo4j label)",
    _RELATION_NAME: "uppercase letters, digits and _, from a letter (DIRECTED_BY: it "
    "becomes a Neo4j relationship type)",
    _ATTRIBUTE_NAME: "lowercase letters, digits and _, from a letter (release_date)",
    _WIKIDATA_ID: "a Wikidata property id, P and its number (P57)",
    _KIND_NAME: "words without spaces at either end",
}
"""What each name pattern allows, in words, for the errors of :func:`load_schema`."""

TypeName = Annotated[str, Field(pattern=_TYPE_NAME, max_length=64)]
RelationName = Annotated[str, Field(pattern=_RELATION_NAME, max_length=64)]
WikidataId = Annotated[str, Field(pattern=_WIKIDATA_ID)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
KindName = Annotated[str, Field(pattern=_KIND_NAME, min_length=1, max_length=64)]
"""A kind of thing in plain words (``film``, ``television series``)."""

ValueType = Literal["entity", "date", "year", "number", "quantity", "string", "location", "text"]
"""What an attribute's value must be: an ``entity`` mention of the ``range`` types (a
``location`` is one of type ``LOC`` unless ``range`` says otherwise), a ``date`` (ISO
8601), a ``year``, a ``number``, a ``quantity`` (number and unit) or a ``string``
(``text`` is the older name). A value that is not of its type is refused."""

QuantityUnit = Literal["currency", "seconds", "minutes", "hours", "days", "weeks"]
"""What a ``quantity`` attribute measures: ``currency`` (an amount of money, in the currency
the text names: ``$12000000``, ``12000000 dollars``) or a unit of time (a duration, stored
in that unit: "1 h 35 min" is ``95 minutes``). A value that measures anything else is
refused: a year or a bare number as a budget, a sum of money as a running time."""

ENTITY_VALUE_TYPES = frozenset({"entity", "location"})
"""Value types whose answers must be entity mentions."""


def fill_question(template: str, head: str) -> str:
    """A question template with the head entity's name in place of ``{head}`` / ``{name}``."""
    return template.replace("{head}", head).replace("{name}", head)


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_FILLED = frozenset({"{head}", "{name}"})


def _check_placeholders(field: str, template: str) -> None:
    """Refuse a placeholder that :func:`fill_question` leaves in (``{year}``, ``{Head}``).

    Doubled braces (``{{head}}``, as Jinja or ``str.format`` escape them) would reach the
    QA model as ``{Vertigo}``.
    """
    if "{{" in template or "}}" in template:
        raise ValueError(
            f"{field} {template!r} doubles its braces: write {{head}}, with one brace each "
            "side (it is replaced as written, not by a template engine)"
        )
    unfilled = sorted(set(_PLACEHOLDER.findall(template)) - _FILLED)
    if unfilled:
        raise ValueError(
            f"{field} {template!r} holds {', '.join(unfilled)}: only {{head}} (the head "
            "entity's name) is filled in, the rest would be read as written"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntityType(_Strict):
    """A node label for entities, e.g. ``ORG``."""

    name: TypeName
    description: str = ""


class RelationType(_Strict):
    """A relationship type and the entity types it may connect (head -> tail).

    ``wikidata`` names the Wikidata property it stands for (``P17``): a relation model
    whose labels are Wikidata ids fills it. ``symmetric`` relations hold both ways;
    ``inverse`` names the type that holds from tail to head (``FOLLOWS`` / ``FOLLOWED_BY``).
    """

    name: RelationName
    domain: tuple[TypeName, ...] = Field(min_length=1)
    range: tuple[TypeName, ...] = Field(min_length=1)
    description: str = ""
    label: str = ""
    """A readable name (``"place of birth"``)."""
    wikidata: WikidataId | None = None
    symmetric: bool = False
    inverse: RelationName | None = None
    question: str | None = None
    """A question about the head whose answer is the tail (``Who directed {head}?``): with
    it, the type is extracted without training, by the QA model (see ``extract``)."""
    paraphrases: tuple[str, ...] = ()
    """Other ways people ask ``question`` (``Who was the director of {head}?``): ``kgbuild
    ask`` matches a question against the question and all of these; only ``question`` is
    read by the QA model."""
    extract: Literal["auto", "model", "template"] = "auto"
    """``auto``: by the relation model when it predicts this type, else by ``question``;
    ``model``: by the relation model only; ``template``: by ``question`` only (the relation
    model's predictions of this type are dropped)."""
    threshold: Threshold | None = None
    """Template route: overrides the stage's lowest answer confidence for this type."""
    head_kinds: tuple[KindName, ...] = ()
    """Template route: what a head must be, finer than its entity type (``film``,
    ``television series`` for a director; Wikidata's subject type constraint). An entity
    is asked the question only when the sentence that first names it is, in the sentence
    encoder's space, about as near ``a <kind>`` for one of these as for any kind of the
    schema (:attr:`GraphSchema.kind_pool`). Empty: every entity of the domain types."""

    @model_validator(mode="after")
    def _check_template(self) -> RelationType:
        if self.question is not None and "{head}" not in self.question:
            raise ValueError("question must contain {head} (the head entity's name)")
        if self.extract == "template" and self.question is None:
            raise ValueError("extract: template needs a question")
        if self.paraphrases and self.question is None:
            raise ValueError("paraphrases need a question (they are other ways to ask it)")
        for paraphrase in self.paraphrases:
            if "{head}" not in paraphrase:
                raise ValueError(f"paraphrase {paraphrase!r} must contain {{head}}")
            _check_placeholders("paraphrase", paraphrase)
        if self.question is not None:
            _check_placeholders("question", self.question)
        if self.head_kinds and self.question is None:
            raise ValueError("head_kinds need a question (they choose whom it is asked about)")
        return self


class AttributeSpec(_Strict):
    """A slot of an entity type, filled by question answering over its evidence.

    ``question`` holds ``{head}`` (or ``{name}``), replaced by the entity's name. The
    answer must be a value of ``value_type`` (see :data:`ValueType`), else it is refused.
    With ``model`` (a token-classification model) and ``label``, the best span of that
    label in the evidence sentences fills the slot instead of the QA model.
    """

    name: Annotated[str, Field(pattern=_ATTRIBUTE_NAME)]
    entity_type: TypeName
    question: str = ""
    value_type: ValueType = "text"
    range: tuple[TypeName, ...] = ()
    """Entity types an ``entity`` value may have (``location``: ``LOC`` when empty)."""
    unit: QuantityUnit | None = None
    """What a ``quantity`` value measures (see :data:`QuantityUnit`); unset: any unit."""
    wikidata: WikidataId | None = None
    """The Wikidata property the attribute stands for (evaluation maps gold facts by it)."""
    threshold: Threshold | None = None
    """Overrides the stage's threshold for this attribute."""
    cues: tuple[str, ...] = ()
    """Optional: words of which an evidence sentence must hold one (case-insensitive) to be
    read for this attribute. Without cues, the sentences that can hold a value of the type
    and are nearest the question in a sentence-embedding space are read."""
    model: str | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _check_reader(self) -> AttributeSpec:
        if self.model is None and not ("{name}" in self.question or "{head}" in self.question):
            raise ValueError("question must contain {head} or {name} (or set model and label)")
        if self.model is not None and not self.label:
            raise ValueError("label is required with model (the tag type that holds the value)")
        _check_placeholders("question", self.question)
        if self.value_type == "entity" and not self.range:
            raise ValueError("value_type entity needs range (the entity types of the value)")
        if self.range and self.value_type not in ENTITY_VALUE_TYPES:
            raise ValueError(
                f"range is for entity and location values: a {self.value_type} value is "
                "never an entity mention, so range would be ignored"
            )
        if self.unit is not None and self.value_type != "quantity":
            raise ValueError(
                f"unit is for quantity values: a {self.value_type} value has no unit, so unit "
                "would be ignored"
            )
        return self

    @property
    def value_range(self) -> tuple[str, ...]:
        """Entity types an entity value may have (empty for other value types)."""
        if self.value_type == "location":
            return self.range or ("LOC",)
        return self.range if self.value_type == "entity" else ()


def _check_unique(section: str, field: str, values: Sequence[str | None]) -> None:
    """Refuse a value declared twice in a section, naming both entries (``None``: unset)."""
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in first:
            raise ValueError(
                f"{section}.{index}.{field}: {value} is declared twice (also "
                f"{section}.{first[value]})"
            )
        first[value] = index


def _check_inverses(relations: Sequence[RelationType]) -> None:
    """Refuse inverses that disagree, naming both entries (each ``inverse`` declared).

    An inverse holds both ways: ``A.inverse: B`` with ``B.inverse: C``, or ``A`` and ``C``
    both naming ``B``, would leave the type read with ``B`` to whichever entry came last
    (:attr:`GraphSchema.inverse_relations`). ``B`` naming none is fine: it is ``A``'s.
    """
    index = {relation.name: i for i, relation in enumerate(relations)}
    claimed: dict[str, int] = {}
    for i, relation in enumerate(relations):
        inverse = relation.inverse
        if inverse is None:
            continue
        other = relations[index[inverse]]
        if other.inverse is not None and other.inverse != relation.name:
            raise ValueError(
                f"relation_types.{i}.inverse: {relation.name} names {inverse} as its inverse, "
                f"but {inverse} (relation_types.{index[inverse]}) names {other.inverse}: an "
                "inverse holds both ways; make the two agree, or leave one of them unset"
            )
        if inverse in claimed:
            first = relations[claimed[inverse]].name
            raise ValueError(
                f"relation_types.{i}.inverse: {relation.name} names {inverse} as its inverse, "
                f"and so does {first} (relation_types.{claimed[inverse]}): a type has one "
                "inverse; keep one of them"
            )
        claimed[inverse] = i


SCHEMA_VERSION = 1
"""The schema file format this kgbuild reads (a file's ``version``)."""


class GraphSchema(_Strict):
    """What the graph may contain; labels and types outside it are refused."""

    version: int = 1
    """The schema format; this kgbuild reads version 1 (another is refused, not guessed at)."""
    entity_types: tuple[EntityType, ...] = Field(min_length=1)
    relation_types: tuple[RelationType, ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()
    kinds: tuple[KindName, ...] = ()
    """Other kinds of things the documents name (``person``, ``event``, ``album``...): they
    compete with the relation types' ``head_kinds`` when an entity's kind is checked."""

    @model_validator(mode="after")
    def _check_references(self) -> GraphSchema:
        if self.version != SCHEMA_VERSION:
            raise ValueError(
                f"version: {self.version} is not a schema format this kgbuild reads (it reads "
                f"version {SCHEMA_VERSION}); a newer kgbuild may read it"
            )
        names = [t.name for t in self.entity_types]
        _check_unique("entity_types", "name", names)
        for index, name in enumerate(names):
            if name in RESERVED_ENTITY_LABELS:
                raise ValueError(
                    f"entity_types.{index}.name: {name!r} is reserved for the graph's own "
                    f"structure ({', '.join(sorted(RESERVED_ENTITY_LABELS))}); rename it"
                )
        known = set(names)
        for index, relation in enumerate(self.relation_types):
            for side in ("domain", "range"):
                unknown = set(getattr(relation, side)) - known
                if unknown:
                    raise ValueError(
                        f"relation_types.{index}.{side}: unknown entity types {sorted(unknown)} "
                        f"(declared: {sorted(known)})"
                    )
        relations = [r.name for r in self.relation_types]
        for index, name in enumerate(relations):
            if name in RESERVED_RELATION_TYPES:
                raise ValueError(
                    f"relation_types.{index}.name: {name!r} is reserved for the graph's own "
                    f"structure ({', '.join(sorted(RESERVED_RELATION_TYPES))}); rename it"
                )
        _check_unique("relation_types", "name", relations)
        _check_unique("relation_types", "wikidata", [r.wikidata for r in self.relation_types])
        for index, relation in enumerate(self.relation_types):
            if relation.inverse is not None and relation.inverse not in relations:
                raise ValueError(
                    f"relation_types.{index}.inverse: {relation.inverse!r} is not a declared "
                    "relation type"
                )
        _check_inverses(self.relation_types)
        for index, attribute in enumerate(self.attributes):
            if attribute.entity_type not in known:
                raise ValueError(
                    f"attributes.{index}.entity_type: unknown entity type "
                    f"{attribute.entity_type!r} (declared: {sorted(known)})"
                )
            unknown = set(attribute.value_range) - known
            if unknown:
                raise ValueError(
                    f"attributes.{index}.range: unknown entity types {sorted(unknown)} "
                    f"(declared: {sorted(known)}; a location value is a LOC mention unless "
                    "range names other types)"
                )
        _check_unique("attributes", "name", [f"{a.entity_type}.{a.name}" for a in self.attributes])
        return self

    @property
    def entity_labels(self) -> frozenset[str]:
        """Names of the declared entity types."""
        return frozenset(t.name for t in self.entity_types)

    @property
    def relation_names(self) -> frozenset[str]:
        """Names of the declared relation types."""
        return frozenset(t.name for t in self.relation_types)

    @property
    def symmetric_relations(self) -> frozenset[str]:
        """Names of the relation types declared ``symmetric`` (stored once per pair)."""
        return frozenset(t.name for t in self.relation_types if t.symmetric)

    @property
    def inverse_relations(self) -> dict[str, str]:
        """Relation type -> the type that holds from its tail to its head.

        Each type's ``inverse`` (``FOLLOWS`` -> ``FOLLOWED_BY``), and for a type that
        declares none, the type that names it as its inverse.
        """
        declared = {t.name: t.inverse for t in self.relation_types if t.inverse is not None}
        return {inverse: name for name, inverse in declared.items()} | declared

    @property
    def kind_pool(self) -> tuple[str, ...]:
        """Every kind an entity's kind is checked against: ``kinds`` and all ``head_kinds``."""
        pool = dict.fromkeys(self.kinds)
        for relation in self.relation_types:
            pool.update(dict.fromkeys(relation.head_kinds))
        return tuple(pool)

    @property
    def templated_relations(self) -> tuple[RelationType, ...]:
        """Relation types with a question template (extractable without training)."""
        return tuple(r for r in self.relation_types if r.question and r.extract != "model")

    def relation_type(self, name: str) -> RelationType:
        """The declared relation type ``name`` (``KeyError`` if undeclared)."""
        for relation in self.relation_types:
            if relation.name == name:
                return relation
        raise KeyError(name)

    def relation_for_label(self, label: str) -> str | None:
        """The relation type a model label stands for: its name or its Wikidata id."""
        for relation in self.relation_types:
            if label in (relation.name, relation.wikidata):
                return relation.name
        return None


def schema_file(path: Path | str | None) -> Path:
    """The schema file for a config value: a path, a shipped schema's name, or the default."""
    folder = resource_dir("schemas")
    if path is None:
        return folder / f"{DEFAULT_SCHEMA_NAME}.yaml"
    shipped = folder / f"{path}.yaml"
    if isinstance(path, str | Path) and "/" not in str(path) and shipped.is_file():
        return shipped
    return Path(path)


def load_unique_yaml(text: str) -> Any:
    """The YAML document in ``text``, refusing a mapping that gives one key twice.

    YAML loaders keep the last of two equal keys: a second ``relation_types:`` block (a
    documented example pasted below one's own) would silently drop the first.

    Raises:
        yaml.YAMLError: Invalid YAML, or a key given twice (its line named).
    """
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    """Raise ``yaml.MarkedYAMLError`` at the second of two equal keys of a mapping."""
    stack, seen_nodes = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # an alias: its node was checked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in lines:
                        raise yaml.MarkedYAMLError(
                            problem=f"{key.value!r} is given twice (also on line "
                            f"{lines[key.value] + 1}): the later would silently replace the "
                            "earlier; merge them into one",
                            problem_mark=key.start_mark,
                        )
                    lines[key.value] = key.start_mark.line
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """PyYAML's message with its lines named as lines (not of ``"<unicode string>"``).

    A line indented with a tab, which YAML refuses, is named as such.
    """
    message = str(exc).replace('in "<unicode string>", line', "at line")
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        if "\t" in line[: len(line) - len(line.lstrip())]:
            message += f"\nline {mark.line + 1} is indented with a tab: YAML indents with spaces"
    return message


def _not_found(path: Path) -> str:
    """Why ``path`` names no schema, and what a schema may be named by."""
    where = "" if path.is_absolute() else f" (relative to the current directory, {Path.cwd()})"
    shipped = sorted(p.stem for p in resource_dir("schemas").glob("*.yaml"))
    return (
        f"schema file {path} not found{where}: a schema is a YAML file, or the name of a "
        f"shipped schema: {', '.join(shipped) or 'none'}"
    )


def load_schema(path: Path | None = None) -> GraphSchema:
    """Load and validate a schema YAML file (default: ``schemas/wikidata.yaml``).

    ``path`` may also name a schema that ships in ``schemas/`` (``wikidata``, ``business``).

    Raises:
        ConfigError: a missing file (the shipped schemas' names listed), an unreadable
            one (or not UTF-8: the line is named), invalid YAML, or a wrong field (named in
            the message).
    """
    return read_schema_text(path).load()


@dataclass(frozen=True)
class SchemaText:
    """A schema file's text and the file it was read from (as a build records it)."""

    source: str
    """The file, as named in messages."""
    text: str

    @property
    def digest(self) -> str:
        """The SHA-256 of the text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def load(self) -> GraphSchema:
        """The schema the text declares.

        Raises:
            ConfigError: invalid YAML, or a wrong field (named in the message).
        """
        return parse_schema(self.text, self.source)


def read_schema_text(path: Path | str | None = None) -> SchemaText:
    """The text of the schema file for a config value (:func:`schema_file`), unparsed.

    Raises:
        ConfigError: a missing file (the shipped schemas' names listed), an unreadable
            one, or one that is not UTF-8 (the line is named).
    """
    path = schema_file(path)
    try:
        return SchemaText(str(path), path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:  # a typo, or a shipped name that is not one
        raise ConfigError(_not_found(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read schema file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:  # e.g. saved in cp1252 with an accented description
        line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"schema file {path}:{line}: not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from exc


def parse_schema(text: str, source: str) -> GraphSchema:
    """Validate the schema YAML ``text`` of the file ``source`` (named in the errors).

    Raises:
        ConfigError: invalid YAML, or a wrong field (named in the message).
    """
    try:
        data = load_unique_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"schema file {source} is not valid YAML: {_yaml_problem(exc, text)}"
        ) from exc
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"schema file {source} holds {found}: a schema is a mapping with entity_types "
            "(and optionally relation_types, attributes, kinds)"
        )
    try:
        return GraphSchema.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        inside = {err["loc"][:end] for err in errors for end in range(len(err["loc"]))}
        # a list whose entries were all refused is also "too short": the entries say why
        kept = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in inside)]
        problems = "; ".join(_problem(err) for err in kept)
        raise ConfigError(f"invalid schema file {source}: {problems}") from exc


def _problem(err: ErrorDetails) -> str:
    """One validation error of a schema file, with the value given and what is allowed."""
    where = ".".join(str(p) for p in err["loc"]) or "<root>"
    given, kind = err.get("input"), err["type"]
    shown = repr(given) if len(repr(given)) <= 60 else f"{repr(given)[:57]}..."
    if kind == "extra_forbidden":
        fields = list(_model_at(err["loc"][:-1]).model_fields)
        near = get_close_matches(str(err["loc"][-1]), fields, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        return f"{where}: unknown field ({hint}the fields here: {', '.join(fields)})"
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        return f"{where}: {shown} is not allowed: {_PATTERN_WORDS.get(pattern, err['msg'])}"
    if kind == "tuple_type" and isinstance(given, dict):
        return (
            f"{where}: a mapping, not a list; write one entry a line, each with its name "
            f"(- {{name: {next(iter(given), 'X')}, ...}})"
        )
    if kind == "tuple_type":
        example = f"[{given}]" if isinstance(given, str) else "[A, B]"
        return f"{where}: {shown} is not a list; write a list, e.g. {example}"
    if kind == "model_type":  # a name where an entry (a mapping) belongs
        model = _model_at(err["loc"])
        needed = [name for name, field in model.model_fields.items() if field.is_required()]
        example = f"{{name: {given}, ...}}" if isinstance(given, str) else "{name: ..., ...}"
        return (
            f"{where}: {shown} is not an entry; write a mapping with {', '.join(needed)}, "
            f"e.g. {example}"
        )
    if kind == "literal_error":
        return f"{where}: {err['msg']}, not {shown}"
    if kind == "value_error":  # a check of ours: its message names where (pydantic: "<root>")
        message = str((err.get("ctx") or {}).get("error", err["msg"]))
        return message if where == "<root>" else f"{where}: {message}"
    return f"{where}: {err['msg']}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The schema model that the error location ``loc`` is inside (a list's item's model)."""
    model: type[BaseModel] = GraphSchema
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue  # a list index
        item = next(iter(get_args(field.annotation)), field.annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            model = item
    return model


def generated_json_schemas() -> dict[str, dict[str, object]]:
    """JSON Schemas generated from the code: file name -> schema."""
    from kgbuild import data

    return {
        "graph_schema.schema.json": GraphSchema.model_json_schema(),
        "graph_delta.schema.json": data.GraphDelta.model_json_schema(),
        "entity.schema.json": data.Entity.model_json_schema(),
        "mention.schema.json": data.Mention.model_json_schema(),
    }


def write_json_schemas(folder: Path = SCHEMAS_DIR) -> list[Path]:
    """Regenerate the JSON Schema files in ``folder``."""
    written = []
    for name, schema in generated_json_schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for written_path in write_json_schemas():
        print(written_path)
