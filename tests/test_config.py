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
        ("nre:\n  batch_size: 3\n", r"nre"),
        ("ner: [unclosed\n", "not valid YAML"),
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
