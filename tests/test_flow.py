"""The Prefect build flow, run for real (temporary Prefect server from the test harness)."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgbuild.pipeline import build

from .conftest import CORPUS

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import os

    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (sets the offline Prefect defaults)

    with prefect_test_harness(server_startup_timeout=120):
        yield


def names(report_json: Path) -> set[tuple[str, str]]:
    data = json.loads(report_json.read_text(encoding="utf-8"))
    return {(n["name"], n["label"]) for n in data["nodes"] if n["kind"] == "entity"}


def test_flow_builds_the_same_graph_as_the_library_and_skips_on_rerun(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    from flows.build_kg import build_kg_flow

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Maria Gonzalez founded Acme Robotics in Toronto.", encoding="utf-8"
    )
    (folder / "b.txt").write_text("David Chen works for Acme Robotics in Berlin.", encoding="utf-8")
    (folder / "c.txt").write_text("", encoding="utf-8")

    settings = settings_for(keyword_ner_model)
    flow_settings = settings.model_copy(
        update={"out_dir": tmp_path / "flow-out", "docs_per_batch": 1}
    )
    report = build_kg_flow(paths=[str(folder)], settings=flow_settings)
    direct = build([folder], settings)

    assert (report.processed, report.failed) == (2, 1)
    assert names(report.outputs["json"]) == names(direct.outputs["json"])
    assert ("Acme Robotics", "ORG") in names(report.outputs["json"])

    again = build_kg_flow(paths=[str(folder)], settings=flow_settings)
    assert (again.processed, again.skipped) == (0, 2)


def test_only_transient_errors_are_retried() -> None:
    from sqlalchemy.exc import OperationalError

    from flows.build_kg import is_transient

    assert is_transient(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert is_transient(ConnectionResetError())
    assert not is_transient(ValueError("bad label"))
