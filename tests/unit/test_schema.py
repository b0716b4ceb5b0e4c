import json
import re
from pathlib import Path

import pytest

from kgbuild.errors import ConfigError
from kgbuild.schema import DEFAULT_SCHEMA_PATH, SCHEMAS_DIR, generated_json_schemas, load_schema


def test_default_schema_is_wikidata_and_the_business_schema_ships_beside_it() -> None:
    schema = load_schema()
    assert {"PER", "ORG", "LOC", "MISC", "TIME", "NUM"} == schema.entity_labels
    assert len(schema.relation_types) == 108  # the 96 Re-DocRED types and 12 more by template
    assert len({r.wikidata for r in schema.relation_types}) == 108
    assert schema.relation_for_label("P17") == "COUNTRY"
    assert schema.relation_for_label("COUNTRY") == "COUNTRY"
    assert schema.relation_for_label("P999999") is None
    cast = next(r for r in schema.relation_types if r.name == "CAST_MEMBER")
    assert cast.wikidata == "P161" and cast.description and "PER" in cast.range
    follows = next(r for r in schema.relation_types if r.name == "FOLLOWS")
    assert follows.inverse == "FOLLOWED_BY"
    assert next(r for r in schema.relation_types if r.name == "SPOUSE").symmetric
    assert DEFAULT_SCHEMA_PATH.parent == SCHEMAS_DIR
    business = load_schema("business")  # a shipped schema by name, as config may give it
    assert {"PER", "ORG", "LOC", "MISC"} == business.entity_labels
    assert "WORKS_FOR" in business.relation_names


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
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [], range: [PER]}]",
            "relation_types.0.domain",
        ),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [PLANET], range: [PER]}]",
            "relation_types.0.domain",
        ),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [PER], range: [PER], wikidata: Q5}]",
            "relation_types.0.wikidata",
        ),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [PER], range: [PER], inverse: KNOWN_BY}]",
            "relation_types.0.inverse",
        ),
        (
            "entity_types: [{name: LOC}]\nrelation_types: [{name: PART_OF, domain: [LOC], range: [LOC]}]",
            "relation_types.0.name",
        ),
        ("relation_types: []", "entity_types"),
        ("entity_types: []", "entity_types: Tuple should have at least 1 item"),
        (
            "entity_types: [{name: ORG}]\nrelation_types: [{name: OWNS, domain: [ORG], range: [ORG], head_kinds: [company]}]",
            "relation_types.0",  # head_kinds without a question
        ),
        ("entity_types: [{name: PER}]\nkinds: [' film']", "kinds.0"),
        ("entity_types: [{name: PER}, {name: ORG}, {name: PER}]", "entity_types.2.name: PER"),
        ("entity_types: [{name: PER}, {name: Document}]", "entity_types.1.name: 'Document'"),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [PER], range: [PER]},"
            " {name: LIKES, domain: [PER], range: [PER]}, {name: KNOWS, domain: [PER], range: [PER]}]",
            "relation_types.2.name: KNOWS is declared twice (also relation_types.0)",
        ),
        (
            "entity_types: [{name: PER}]\nrelation_types: [{name: KNOWS, domain: [PER], range: [PER],"
            " wikidata: P1}, {name: LIKES, domain: [PER], range: [PER], wikidata: P1}]",
            "relation_types.1.wikidata: P1 is declared twice (also relation_types.0)",
        ),
        (
            "entity_types: [{name: PER}]\nattributes: [{name: age, entity_type: PER, question: 'q {head}'},"
            " {name: age, entity_type: PER, question: 'r {head}'}]",
            "attributes.1.name: PER.age is declared twice (also attributes.0)",
        ),
        (
            "entity_types: [{name: PER}]\nattributes: [{name: age, entity_type: ORG, question: 'q {name}'}]",
            "attributes.0.entity_type",
        ),
        (  # inverses that disagree: FOLLOWS -> FOLLOWED_BY, but FOLLOWED_BY -> PRECEDES
            "entity_types: [{name: MISC}]\nrelation_types: [{name: FOLLOWS, domain: [MISC], range: [MISC],"
            " inverse: FOLLOWED_BY}, {name: FOLLOWED_BY, domain: [MISC], range: [MISC], inverse: PRECEDES},"
            " {name: PRECEDES, domain: [MISC], range: [MISC]}]",
            "relation_types.0.inverse: FOLLOWS names FOLLOWED_BY as its inverse, but FOLLOWED_BY"
            " (relation_types.1) names PRECEDES",
        ),
        (  # two types that name one inverse
            "entity_types: [{name: MISC}]\nrelation_types: [{name: FOLLOWS, domain: [MISC], range: [MISC],"
            " inverse: FOLLOWED_BY}, {name: FOLLOWED_BY, domain: [MISC], range: [MISC]},"
            " {name: PRECEDES, domain: [MISC], range: [MISC], inverse: FOLLOWED_BY}]",
            "relation_types.2.inverse: PRECEDES names FOLLOWED_BY as its inverse, and so does"
            " FOLLOWS (relation_types.0)",
        ),
    ],
)
def test_wrong_schema_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_schema(path)


_FILM = "entity_types: [{name: PER}, {name: MISC}]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # a misspelt field: the fields of its entry, the nearest first
            _FILM + "relation_types:\n  - {name: DIRECTOR, questoin: 'Who directed {head}?',"
            " domain: [MISC], range: [PER]}",
            "relation_types.0.questoin: unknown field (did you mean question? the fields here:"
            " name, domain, range, description, label, wikidata, symmetric, inverse, question,",
        ),
        (
            _FILM
            + "attributes: [{name: budget, entity_type: MISC, question: 'q {head}', currency: USD}]",
            "attributes.0.currency: unknown field (the fields here: name, entity_type, question,",
        ),
        (  # a quantity's unit is what it measures: money or a unit of time
            _FILM + "attributes: [{name: budget, entity_type: MISC, question: 'q {head}', "
            "value_type: quantity, unit: USD}]",
            "attributes.0.unit: Input should be 'currency', 'seconds', 'minutes', 'hours',",
        ),
        (_FILM + "relation_type: []", "relation_type: unknown field (did you mean relation_types?"),
        (  # names as Neo4j would need them, said in words, with the name given
            _FILM + "relation_types: [{name: DIRECTED BY, domain: [MISC], range: [PER]}]",
            "relation_types.0.name: 'DIRECTED BY' is not allowed: uppercase letters, digits and"
            " _, from a letter",
        ),
        (
            "entity_types: [{name: film}]",
            "entity_types.0.name: 'film' is not allowed: an uppercase letter, then letters",
        ),
        (
            _FILM + "attributes: [{name: Budget, entity_type: MISC, question: 'q {head}'}]",
            "attributes.0.name: 'Budget' is not allowed: lowercase letters, digits and _",
        ),
        (  # a type where YAML needs a list of them
            _FILM + "relation_types: [{name: DIRECTOR, domain: MISC, range: [PER]}]",
            "relation_types.0.domain: 'MISC' is not a list; write a list, e.g. [MISC]",
        ),
        (  # names where entries belong
            "entity_types: [PER, MISC]",
            "invalid schema file {path}: entity_types.0: 'PER' is not an entry; write a mapping"
            " with name, e.g. {name: PER, ...}; entity_types.1: 'MISC' is not an entry",
        ),
        (
            _FILM + "relation_types: [DIRECTOR]",
            "relation_types.0: 'DIRECTOR' is not an entry; write a mapping with name, domain,"
            " range, e.g. {name: DIRECTOR, ...}",
        ),
        (
            _FILM + "relation_types:\n  DIRECTOR: {domain: [MISC], range: [PER]}",
            "relation_types: a mapping, not a list; write one entry a line, each with its name"
            " (- {name: DIRECTOR, ...})",
        ),
        (  # a format this kgbuild does not read is refused, not guessed at
            "version: 2\n" + _FILM,
            "invalid schema file {path}: version: 2 is not a schema format this kgbuild reads"
            " (it reads version 1)",
        ),
        (  # a check of ours names its own place, without pydantic's "<root>: Value error"
            _FILM + "relation_types: [{name: DIRECTOR, domain: [ORG], range: [PER]}]",
            "invalid schema file {path}: relation_types.0.domain: unknown entity types ['ORG']",
        ),
        (
            _FILM + "attributes: [{name: budget, entity_type: MISC, question: 'q {head}',"
            " value_type: money}]",
            "attributes.0.value_type: Input should be 'entity', 'date', 'year', 'number',"
            " 'quantity', 'string', 'location' or 'text', not 'money'",
        ),
    ],
)
def test_a_wrong_field_is_named_with_the_value_given_and_what_is_allowed(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ConfigError, match=re.escape(message.replace("{path}", str(path)))
    ) as raised:
        load_schema(path)
    assert "Tuple should have" not in str(raised.value)  # the entries say why it is empty


@pytest.mark.parametrize(
    ("text", "found"), [("", "nothing"), ("# a comment\n", "nothing"), ("- {name: PER}", "a list")]
)
def test_an_empty_or_non_mapping_schema_file_is_refused_plainly(
    tmp_path: Path, text: str, found: str
) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    message = f"schema file {re.escape(str(path))} holds {found}: .*entity_types"
    with pytest.raises(ConfigError, match=message):
        load_schema(path)


def test_a_missing_schema_file_names_the_shipped_schemas_and_the_directory_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``schema_path: buisness`` or ``film.yaml`` run from another directory."""
    monkeypatch.chdir(tmp_path)
    for given in ("buisness", "film.yaml"):
        message = (
            f"schema file {given} not found (relative to the current directory, "
            f"{tmp_path}): a schema is a YAML file, or the name of a shipped "
            "schema: business, wikidata"
        )
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_schema(given)
    with pytest.raises(ConfigError, match=r"/nowhere/film.yaml not found: a schema is"):
        load_schema(Path("/nowhere/film.yaml"))


def test_a_schema_file_not_in_utf8_is_refused_naming_its_line(tmp_path: Path) -> None:
    """Saved in cp1252 (an accented description): a ConfigError, not a UnicodeDecodeError."""
    path = tmp_path / "schema.yaml"
    path.write_bytes("entity_types:\n  - {name: GENE, description: g\u00e8ne}\n".encode("cp1252"))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:2: not UTF-8 text"):
        load_schema(path)


def test_a_yaml_error_names_its_line_and_a_tab_indent_says_so(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("entity_types:\n\t- {name: PER}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_schema(path)
    message = str(raised.value)
    assert message.startswith(f"schema file {path} is not valid YAML: ")
    assert "<unicode string>" not in message and "at line 2, column 1" in message
    assert message.endswith("line 2 is indented with a tab: YAML indents with spaces")
    path.write_text("entity_types:\n  - {name: PER\n", encoding="utf-8")  # no tab: no word of one
    with pytest.raises(ConfigError, match=r"at line 3, column 1") as raised:
        load_schema(path)
    assert "tab" not in str(raised.value)


def test_a_key_given_twice_is_refused_not_silently_replaced(tmp_path: Path) -> None:
    """The docs' DIRECTOR block pasted below one's own relation_types: both were one key."""
    own = (
        "entity_types: [{name: DRUG}, {name: DISEASE}, {name: PER}, {name: MISC}]\n"
        "relation_types:\n"
        "  - {name: TREATS, domain: [DRUG], range: [DISEASE]}\n"
    )
    pasted = "relation_types:\n  - {name: DIRECTOR, domain: [MISC], range: [PER]}\n"
    path = tmp_path / "schema.yaml"
    path.write_text(own + pasted, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'relation_types' is given twice \(also on line 2\)"):
        load_schema(path)
    path.write_text(own + "attributes: []\n", encoding="utf-8")  # each key once: loads
    assert [r.name for r in load_schema(path).relation_types] == ["TREATS"]


def test_the_kind_pool_holds_the_schema_kinds_then_each_types_head_kinds_once() -> None:
    schema = load_schema(DEFAULT_SCHEMA_PATH)
    pool = schema.kind_pool
    assert len(pool) == len(set(pool))
    assert pool[: len(schema.kinds)] == schema.kinds
    director = schema.relation_type("DIRECTOR")
    assert director.head_kinds and set(director.head_kinds) <= set(pool)
    assert "album" in pool and "album" not in director.head_kinds
