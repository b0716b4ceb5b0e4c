"""A stage's model key: its config minus the run-time-only fields, plus the model revision.

The ledger reuses a document's stored result while the key is unchanged, so a change of an
output-affecting field must change the key (the stage runs again) and a change of a
run-time-only field (batch size, device) must not.
"""

from pathlib import Path

import pytest
from pydantic import BaseModel

from kgbuild.config import (
    AttributeConfig,
    ChunkConfig,
    NerConfig,
    ReConfig,
    ResolveConfig,
    Settings,
    TemplateConfig,
)
from kgbuild.extraction import Extractor
from kgbuild.pipeline import build
from kgbuild.stages.registry import output_settings, registered, stage_key

OUTPUT_CHANGES: list[tuple[BaseModel, dict[str, object]]] = [
    (ChunkConfig(), {"max_sentence_chars": 500}),
    (NerConfig(), {"threshold": 0.7}),
    (NerConfig(), {"stride": 8}),
    (NerConfig(), {"decoding": "argmax"}),
    (NerConfig(), {"label_map": {"Peop": "PER"}}),
    (ReConfig(), {"threshold": 0.9}),
    (ReConfig(), {"min_precision": 0.5}),
    (ReConfig(), {"entity_label_map": {"PER": "Peop"}}),
    (AttributeConfig(), {"max_contexts": 2}),
    (TemplateConfig(), {"types": ("EMPLOYER",)}),
    (ResolveConfig(), {"threshold": 80.0}),
]
RUN_TIME_CHANGES: list[tuple[BaseModel, dict[str, object]]] = [
    (NerConfig(), {"batch_size": 4}),
    (NerConfig(), {"device": "cpu"}),
    (ReConfig(), {"batch_size": 4}),
    (ReConfig(), {"window_batch_size": 1}),
    (AttributeConfig(), {"batch_size": 4, "device": "cpu"}),
    (TemplateConfig(), {"batch_size": 4}),
    (ResolveConfig(), {"workers": -1, "batch_size": 1000}),
]


@pytest.mark.parametrize(("config", "change"), OUTPUT_CHANGES)
def test_an_output_field_changes_the_key(config: BaseModel, change: dict[str, object]) -> None:
    assert stage_key(config.model_copy(update=change)) != stage_key(config)


@pytest.mark.parametrize(("config", "change"), RUN_TIME_CHANGES)
def test_a_run_time_field_leaves_the_key(config: BaseModel, change: dict[str, object]) -> None:
    assert stage_key(config.model_copy(update=change)) == stage_key(config)


def test_a_new_field_is_in_the_key_unless_declared_run_time_only() -> None:
    class Newer(NerConfig):
        window_policy: str = "centre"

    assert "window_policy" in output_settings(Newer())
    assert stage_key(Newer(window_policy="left")) != stage_key(Newer())


def test_every_stage_config_declares_only_its_own_fields_run_time_only() -> None:
    for factory in registered():
        declared = getattr(factory.config, "run_time_fields", frozenset())
        assert declared <= set(factory.config.model_fields), factory.name


def test_resolved_values_override_the_configured_ones() -> None:
    # ``model: default`` and the same model named explicitly give one key
    a = stage_key(NerConfig(), {"model": "ner-en@abc", "precision": "fp32"})
    b = stage_key(NerConfig(model="/m/ner-en", precision="fp32"), {"model": "ner-en@abc"})
    assert a == b
    assert stage_key(NerConfig(), {"model": "ner-en@abd", "precision": "fp32"}) != a


def test_sets_are_keyed_in_a_stable_order() -> None:
    fields = output_settings(ResolveConfig(person_labels=frozenset({"PERSON", "PER", "P"})))
    assert fields["person_labels"] == ["P", "PER", "PERSON"]


def test_the_extractor_key_names_the_model_revision(tmp_path: Path, random_ner_model: Path) -> None:
    settings = Settings(out_dir=tmp_path, ner=NerConfig(model=str(random_ner_model)))
    extractor = Extractor(settings, run_id="r")
    revision = extractor.ner.loaded.revision
    assert extractor.model_key.startswith("chunk:")
    assert f"{random_ner_model}@{revision}" in extractor.model_key


def test_incremental_runs_redo_a_stage_only_when_its_output_can_change(
    tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.")
    (folder / "b.txt").write_text("Omar Haddad works for Granite Capital in Lisbon.")
    settings = settings_for(keyword_ner_model)
    first = build([folder], settings)
    assert (first.processed, first.skipped) == (2, 0)

    def rebuilt(**ner: object) -> tuple[int, int]:
        changed = settings.model_copy(update={"ner": settings.ner.model_copy(update=ner)})
        report = build([folder], changed)
        return report.processed, report.skipped

    assert rebuilt(batch_size=1, device="cpu") == (0, 2)  # run-time only: reused
    assert rebuilt(threshold=0.9) == (2, 0)  # output-affecting: extracted again
    assert rebuilt(threshold=0.9, batch_size=3) == (0, 2)
