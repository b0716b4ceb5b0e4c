import json
from pathlib import Path

import pytest

from kgbuild.config import load_settings
from kgbuild.errors import ConfigError


def test_file_then_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kgbuild.yaml"
    path.write_text(
        "ner:\n  batch_size: 8\n  threshold: 0.7\nresolve:\n  threshold: 85\n", encoding="utf-8"
    )
    settings = load_settings(path)
    assert (settings.ner.batch_size, settings.ner.threshold, settings.resolve.threshold) == (
        8,
        0.7,
        85,
    )
    monkeypatch.setenv("KGBUILD_NER__BATCH_SIZE", "64")
    settings = load_settings(path)
    assert (settings.ner.batch_size, settings.ner.threshold) == (64, 0.7)
    assert load_settings(path, out_dir=tmp_path / "x").out_dir == tmp_path / "x"


def test_defaults_and_ledger_url(tmp_path: Path) -> None:
    settings = load_settings(out_dir=tmp_path)
    assert settings.ner.model == "default"
    assert settings.resolved_ledger_url() == f"sqlite:///{tmp_path.as_posix()}/ledger.sqlite"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ner:\n  batch_size: 0\n", r"ner\.batch_size"),
        ("ner:\n  aggregation: mean\n", r"ner\.aggregation"),
        ("attributes:\n  answers_per_context: 0\n", r"attributes\.answers_per_context"),
        ("nre:\n  batch_size: 3\n", r"nre"),
        ("ner: [unclosed\n", "not valid YAML"),
        ("neo4j:\n  uri: localhost:7687\n", r"neo4j\.uri: .*not a Neo4j URI"),
        # was: skipped without a word, the file then refused with "set ingest.encoding"
        ("ingest:\n  encoding: cp-1250\n", r"ingest\.encoding: .*'cp-1250' is not a text enc"),
        ("ingest:\n  encoding: base64\n", r"ingest\.encoding: .*'base64' is not a text enc"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_neo4j_uri_override_is_checked(tmp_path: Path) -> None:
    neo4j = load_settings(out_dir=tmp_path).neo4j
    assert neo4j.with_uri("bolt://localhost:7687").uri == "bolt://localhost:7687"
    assert neo4j.with_uri("neo4j+s://db.example.com").uri == "neo4j+s://db.example.com"
    with pytest.raises(ConfigError, match=r"'off' is not a Neo4j URI.*bolt://localhost:7687"):
        neo4j.with_uri("off")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bolt://neo4j:s3cret-pw@localhost:7687", "holds a user name or password"),
        ("neo4j+s://admin:s3cret-pw@db.example.com/x", "holds a user name or password"),
        ("http://neo4j:s3cret-pw@localhost:7687", "is not a Neo4j URI"),
    ],
)
def test_neo4j_uri_with_a_password_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str, message: str
) -> None:
    monkeypatch.setenv("KGBUILD_NEO4J__URI", uri)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(out_dir=tmp_path)
    assert "s3cret-pw" not in str(caught.value)
    assert ":***@" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://kg:s3cret-pw@db.example.com/kg",
        "postgresql+psycopg://kg@db.example.com/kg?sslmode=require&password=s3cret-pw",
        "postgresql+psycopg://kg@db.example.com/kg?sslpassword=s3cret-pw&sslmode=require",
    ],
)
def test_settings_as_json_hide_every_password_of_the_ledger_url(tmp_path: Path, url: str) -> None:
    """What Prefect stores and shows as a flow run's parameters."""
    settings = load_settings(out_dir=tmp_path, ledger_url=url)
    shown = json.loads(settings.model_dump_json())["ledger_url"]
    assert "s3cret-pw" not in shown and "***" in shown
    assert settings.resolved_ledger_url() == url


def test_cypher_with_a_password_in_its_uri_fails_cleanly(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    uri = "bolt://neo4j:s3cret-pw@127.0.0.1:1"
    result = CliRunner().invoke(app, ["cypher", "RETURN 1", "--neo4j", uri])
    assert result.exit_code == 2, result.output
    assert "holds a user name or password" in result.output
    assert "s3cret-pw" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_refuses_a_bad_neo4j_uri_before_reading_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    result = CliRunner().invoke(
        app, ["build", str(tmp_path / "missing"), "--out", str(tmp_path), "--neo4j", "off"]
    )
    assert result.exit_code == 2
    assert "not a Neo4j URI" in result.output
    assert not (tmp_path / "ledger.sqlite").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"- ner\n- resolve\n", "must be a mapping of settings .* not a list"),
        (b"ner\n", "must be a mapping of settings .* not a str"),
        (b"ner:\n  model: caf\xe9\n", "is not UTF-8 text"),
    ],
)
def test_config_file_that_is_no_mapping_of_settings(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_a_config_path_given_as_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "kgbuild.yaml"
    path.write_text("ner: {batch_size: 7}\n", encoding="utf-8")
    assert load_settings(str(path)).ner.batch_size == 7  # was AttributeError: 'str' ... is_file
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "missing.yaml"))


def test_kgbuild_config_is_checked_as_config_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGBUILD_CONFIG", str(tmp_path / "typo.yaml"))
    with pytest.raises(ConfigError, match=r"not found: .*typo\.yaml \(from KGBUILD_CONFIG\)"):
        load_settings()
    bad = tmp_path / "bad.yaml"
    bad.write_text("ner: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("KGBUILD_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings()
    bad.write_text("ner:\n  batch_size: 8\n", encoding="utf-8")
    assert load_settings().ner.batch_size == 8


@pytest.mark.parametrize(
    ("name", "value", "example"),
    [
        ("KGBUILD_SERVE__ALLOWED_HOSTS", "kg.example.org", r"\[\"a\", \"b\"\]"),
        ("KGBUILD_NER__LABEL_MAP", "{Peop: PER}", r"\{\"key\": \"value\"\}"),
        ("KGBUILD_RESOLVE__PERSON_LABELS", "PER", r"\[\"a\", \"b\"\]"),
        ("KGBUILD_NER", "default", r"\{\"key\": \"value\"\}"),
    ],
)
def test_environment_value_that_needs_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, example: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name}: not valid JSON .*e.g. '{example}'"):
        load_settings()


def test_environment_error_names_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kgbuild.yaml"
    path.write_text("ner:\n  batch_size: 8\n", encoding="utf-8")
    monkeypatch.setenv("KGBUILD_NER__BATCH_SIZE", "lots")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith("invalid configuration: ner.batch_size (KGBUILD_NER__BATCH_SIZE): ")
    assert str(path) not in message
    monkeypatch.delenv("KGBUILD_NER__BATCH_SIZE")
    monkeypatch.setenv("NEO4J_URI", "http://localhost:7474")
    with pytest.raises(ConfigError, match=r"NEO4J_URI: .*not a Neo4j URI"):
        load_settings(path)


def test_a_section_given_twice_is_refused_not_silently_replaced(tmp_path: Path) -> None:
    """`ner:` written again at the end of a file: YAML would keep the second alone."""
    path = tmp_path / "kgbuild.yaml"
    path.write_text("ner: {batch_size: 8}\nout_dir: out/x\nner:\n  model: models/my-ner\n")
    with pytest.raises(ConfigError, match=r"'ner' is given twice \(also on line 1\)"):
        load_settings(path)
    path.write_text("ner: {batch_size: 8, model: models/my-ner}\nout_dir: out/x\n")
    assert load_settings(path).ner.batch_size == 8


def test_a_leading_tilde_in_a_path_setting_is_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KGBUILD_SERVE__REGISTRY_DIR", raising=False)  # the tests' own
    config = tmp_path / "kgbuild.yaml"
    config.write_text(
        "out_dir: ~/graphs\nschema_path: ~/schema.yaml\n"
        "neo4j: {password_file: ~/neo4j.password}\nserve: {registry_dir: ~/servers}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.out_dir == tmp_path / "graphs"  # not ./~/graphs
    assert settings.schema_path == tmp_path / "schema.yaml"
    assert settings.neo4j.password_file == tmp_path / "neo4j.password"
    assert settings.serve.registry_dir == tmp_path / "servers"
    assert load_settings(out_dir="~/kg").out_dir == tmp_path / "kg"
    monkeypatch.setenv("KGBUILD_OUT_DIR", "~/from-env")
    assert load_settings().out_dir == tmp_path / "from-env"
    # a ~name of no known user is a name
    assert load_settings(out_dir="~no-such-user-here/kg").out_dir == Path("~no-such-user-here/kg")


def test_library_calls_without_settings_load_them_as_load_settings_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kgbuild.pipeline import build
    from kgbuild.qa.engine import ask, open_store

    monkeypatch.setenv("KGBUILD_NER__BATCH_SIZE", "many")
    # a ConfigError naming the variable, not pydantic's ValidationError
    with pytest.raises(ConfigError, match="KGBUILD_NER__BATCH_SIZE"):
        build([tmp_path])
    with pytest.raises(ConfigError, match="KGBUILD_NER__BATCH_SIZE"):
        open_store()
    with pytest.raises(ConfigError, match="KGBUILD_NER__BATCH_SIZE"):
        ask("Where is Acme based?")
    # the standard NEO4J_* variables count too, as for the command line
    monkeypatch.delenv("KGBUILD_NER__BATCH_SIZE")
    monkeypatch.setenv("NEO4J_URI", "http://localhost:7474")
    with pytest.raises(ConfigError, match="NEO4J_URI"):
        build([tmp_path])


def test_threads_loading_other_config_files_each_get_their_own(tmp_path: Path) -> None:
    import sys
    import threading

    files = []
    for batch in range(1, 5):
        files.append(tmp_path / f"{batch}.yaml")
        files[-1].write_text(f"docs_per_batch: {batch}\n", encoding="utf-8")
    found: list[tuple[int, int | str]] = []

    def load(path: Path, expected: int) -> None:
        for _ in range(150):
            try:
                found.append((expected, load_settings(path).docs_per_batch))
            except Exception as exc:  # a crash (KeyError: KGBUILD_CONFIG) is wrong too
                found.append((expected, repr(exc)))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=load, args=(path, n)) for n, path in enumerate(files, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert len(found) == 600
    assert [(expected, got) for expected, got in found if got != expected] == []


def test_ner_language_models_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ner.language_models is None  # unset: the manifest's by_language
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", '{"ZH": "models/ner-zh"}')
    assert load_settings().ner.language_models == {"zh": "models/ner-zh"}
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", "{}")
    assert load_settings().ner.language_models == {}  # none, whatever the manifest lists
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", '{"zh": "a", "zh_TW": "b", "pt-BR": "c"}')
    assert load_settings().ner.language_models == {"zh": "a", "zh-tw": "b", "pt-br": "c"}
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", '{"zh-TW": "a", "zh_tw": "b"}')
    with pytest.raises(ConfigError, match="two models for language 'zh-tw'"):
        load_settings()
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", '{"zh-": "a"}')
    with pytest.raises(ConfigError, match="'zh-' is not a language code"):
        load_settings()
    monkeypatch.setenv("KGBUILD_NER__LANGUAGE_MODELS", "zh: models/ner-zh")
    with pytest.raises(ConfigError, match="KGBUILD_NER__LANGUAGE_MODELS='"):
        load_settings()
