import json
from pathlib import Path

import pytest

from kgbuild.errors import ConfigError
from kgbuild.schema import DEFAULT_SCHEMA_PATH, SCHEMAS_DIR, generated_json_schemas, load_schema


def test_default_schema_loads() -> None:
    schema = load_schema()
    assert {"PER", "ORG", "LOC", "MISC"} == schema.entity_labels
    assert "WORKS_FOR" in schema.relation_names
    assert DEFAULT_SCHEMA_PATH.parent == SCHEMAS_DIR


@pytest.mark.parametrize("name", sorted(generated_json_schemas()))
def test_committed_json_schemas_match_the_code(name: str) -> None:
    committed = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
    assert committed == generated_json_schemas()[name], (
        f"schemas/{name} is out of date: run `python -m kgbuild.schema`"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("entity_types: [{name: per}]", "entity_types.0.name"),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: WORKS_FOR, domain: [PER], range: [ORG]}]",
            "relation_types.0.range",
        ),
        ("entity_types: [{name: PER, colour: red}]", "entity_types.0.colour"),
        ("relation_types: []", "entity_types"),
        (
            "entity_types: [{name: PER}]\nattributes: [{name: age, entity_type: ORG, question: 'q {name}'}]",
            "attributes.0.entity_type",
        ),
    ],
)
def test_wrong_schema_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_schema(path)
