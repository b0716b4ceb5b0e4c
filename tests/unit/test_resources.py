from pathlib import Path

import pytest

from kgbuild.models import models_dir, resolve_language_models, resolve_task_model
from kgbuild.resources import resource_dir
from kgbuild.schema import load_schema, schema_file

REPO = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_the_repository_folders() -> None:
    assert resource_dir("models") == REPO / "models"
    assert resource_dir("schemas") == REPO / "schemas"
    assert schema_file(None) == REPO / "schemas" / "wikidata.yaml"


def test_the_environment_overrides_the_models_and_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    (models / "my-ner").mkdir(parents=True)
    (models / "manifest.yaml").write_text("ner:\n  default: my-ner\n", encoding="utf-8")
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    shipped = (REPO / "schemas" / "business.yaml").read_text(encoding="utf-8")
    (schemas / "wikidata.yaml").write_text(shipped, encoding="utf-8")
    monkeypatch.setenv("KGBUILD_MODELS_DIR", str(models))
    monkeypatch.setenv("KGBUILD_SCHEMAS_DIR", str(schemas))

    assert models_dir() == models
    assert resolve_task_model("ner", "default") == str(models / "my-ner")
    assert schema_file(None) == schemas / "wikidata.yaml"
    assert load_schema() == load_schema(REPO / "schemas" / "business.yaml")


def test_a_shipped_models_name_is_its_folder_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``relations.model: re-en-minilm`` (as the manifest and docs name it) outside the checkout."""
    monkeypatch.chdir(tmp_path)
    assert resolve_task_model("re", "re-en-minilm") == str(models_dir() / "re-en-minilm")
    assert resolve_task_model("ner", "ner-en-minilm") == str(models_dir() / "ner-en-minilm")
    assert resolve_task_model("ner", "dslim/bert-base-NER") == "dslim/bert-base-NER"  # a hub id
    assert resolve_task_model("ner", "no-such-model") == "no-such-model"
    (tmp_path / "re-en-minilm").mkdir()  # a folder of the current directory still wins
    assert resolve_task_model("re", "re-en-minilm") == "re-en-minilm"


def test_a_shipped_models_name_routed_to_a_language_is_its_folder_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ner.language_models: {en: ner-en-minilm}`` is read as ``ner.model`` would read it."""
    monkeypatch.chdir(tmp_path)
    routes = resolve_language_models("ner", {"en": "ner-en-minilm", "zh": "org/zh-ner"})
    assert routes == {"en": str(models_dir() / "ner-en-minilm"), "zh": "org/zh-ner"}
    assert resolve_language_models("ner", {}) == {}
