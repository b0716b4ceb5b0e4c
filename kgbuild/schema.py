"""The graph schema: entity types, relation types (domain, range) and attributes.

Schemas are YAML files in ``schemas/``; :func:`load_schema` validates one and names
the offending field on error. JSON Schemas of the schema file and of the pipeline's
data models are generated from this code (``python -m kgbuild.schema``) and kept in
``schemas/``; a test checks that they agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgbuild.errors import ConfigError

__all__ = [
    "DEFAULT_SCHEMA_PATH",
    "AttributeSpec",
    "EntityType",
    "GraphSchema",
    "RelationType",
    "generated_json_schemas",
    "load_schema",
]

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
DEFAULT_SCHEMA_PATH = SCHEMAS_DIR / "graph_schema.yaml"

TypeName = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9_]*$", max_length=64)]
RelationName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntityType(_Strict):
    """A node label for entities, e.g. ``ORG``."""

    name: TypeName
    description: str = ""


class RelationType(_Strict):
    """A relationship type and the entity types it may connect."""

    name: RelationName
    domain: tuple[TypeName, ...]
    range: tuple[TypeName, ...]
    description: str = ""


class AttributeSpec(_Strict):
    """A slot of an entity type, filled by question answering over its evidence.

    ``question`` holds ``{name}``, replaced by the entity's name. With ``model`` (a
    token-classification model) and ``label``, the best span of that label in the
    evidence sentences fills the slot instead of the QA model.
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    entity_type: TypeName
    question: str = ""
    value_type: Literal["date", "number", "location", "text"] = "text"
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Overrides the stage's threshold for this attribute."""
    cues: tuple[str, ...] = ()
    """Words of which an evidence sentence must hold one (case-insensitive) to be read for
    this attribute, e.g. ``born``; empty: every sentence that mentions the entity. An
    extractive QA model always answers something, so cues keep it to sentences that can
    hold the value."""
    model: str | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _check_reader(self) -> AttributeSpec:
        if self.model is None and "{name}" not in self.question:
            raise ValueError("question must contain {name} (or set model and label)")
        if self.model is not None and not self.label:
            raise ValueError("label is required with model (the tag type that holds the value)")
        return self


class GraphSchema(_Strict):
    """What the graph may contain; labels and types outside it are refused."""

    version: int = 1
    entity_types: tuple[EntityType, ...]
    relation_types: tuple[RelationType, ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()

    @model_validator(mode="after")
    def _check_references(self) -> GraphSchema:
        names = [t.name for t in self.entity_types]
        if len(set(names)) != len(names):
            raise ValueError(f"entity_types: duplicate names in {names}")
        known = set(names)
        for index, relation in enumerate(self.relation_types):
            for side in ("domain", "range"):
                unknown = set(getattr(relation, side)) - known
                if unknown:
                    raise ValueError(
                        f"relation_types.{index}.{side}: unknown entity types {sorted(unknown)} "
                        f"(declared: {sorted(known)})"
                    )
        for index, attribute in enumerate(self.attributes):
            if attribute.entity_type not in known:
                raise ValueError(
                    f"attributes.{index}.entity_type: unknown entity type "
                    f"{attribute.entity_type!r} (declared: {sorted(known)})"
                )
        return self

    @property
    def entity_labels(self) -> frozenset[str]:
        """Names of the declared entity types."""
        return frozenset(t.name for t in self.entity_types)

    @property
    def relation_names(self) -> frozenset[str]:
        """Names of the declared relation types."""
        return frozenset(t.name for t in self.relation_types)


def load_schema(path: Path | None = None) -> GraphSchema:
    """Load and validate a schema YAML file (default: ``schemas/graph_schema.yaml``).

    Raises:
        ConfigError: unreadable file, invalid YAML, or a wrong field (named in the message).
    """
    path = path or DEFAULT_SCHEMA_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read schema file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"schema file {path} is not valid YAML: {exc}") from exc
    try:
        return GraphSchema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid schema file {path}: {problems}") from exc


def generated_json_schemas() -> dict[str, dict[str, object]]:
    """JSON Schemas generated from the code: file name -> schema."""
    from kgbuild import data

    return {
        "graph_schema.schema.json": GraphSchema.model_json_schema(),
        "batch.schema.json": data.Batch.model_json_schema(),
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
