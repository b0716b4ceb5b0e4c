"""The Prefect build flow, run for real (temporary Prefect server from the test harness)."""

import json
import shutil
from pathlib import Path

import pytest

from kgbuild.pipeline import build
from tests.conftest import CORPUS

pytestmark = pytest.mark.prefect


def names(report_json: Path) -> set[tuple[str, str]]:
    data = json.loads(report_json.read_text(encoding="utf-8"))
    return {(n["name"], n["label"]) for n in data["nodes"] if n["kind"] == "entity"}


def test_flow_builds_the_same_graph_as_the_library_and_skips_on_rerun(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    from kgbuild_flows.build_kg import build_kg_flow, run_build_flow

    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    (folder / "empty.txt").write_text("", encoding="utf-8")

    settings = settings_for(keyword_ner_model)
    flow_settings = settings.model_copy(
        update={"out_dir": tmp_path / "flow-out", "docs_per_batch": 8}
    )
    report = build_kg_flow(paths=[str(folder)], settings=flow_settings)
    direct = build([folder], settings)

    assert (report.processed, report.failed) == (30, 1)
    assert report.failures[0].source.endswith("empty.txt")
    assert names(report.outputs["json"]) == names(direct.outputs["json"])
    assert report.entities == direct.entities > 0

    again = run_build_flow([str(folder)], flow_settings)
    assert (again.processed, again.skipped) == (0, 30)


def test_heartbeats_are_off_only_on_the_temporary_server() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from kgbuild_flows.build_kg import local_run_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        off = local_run_settings()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        kept = local_run_settings()
    assert [(setting.name, value) for setting, value in off.items()] == [
        ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)
    ]
    assert kept == {}


def test_only_transient_errors_are_retried() -> None:
    from neo4j.exceptions import ServiceUnavailable
    from sqlalchemy.exc import OperationalError

    from kgbuild.store.neo4j.schema import SchemaError
    from kgbuild.store.neo4j.writer import Neo4jUnavailableError
    from kgbuild_flows.build_kg import is_transient

    assert is_transient(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert is_transient(ConnectionResetError())
    assert is_transient(Neo4jUnavailableError("bolt://127.0.0.1:1", "neo4j"))
    assert is_transient(ServiceUnavailable("gone"))
    assert not is_transient(ValueError("bad label"))
    assert not is_transient(SchemaError("label 'X' is not in the schema"))
