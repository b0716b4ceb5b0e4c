"""The Dask task runner (a local 2-worker cluster) builds exactly the graph the default runner builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kgbuild.config import OrchestrationConfig

from .conftest import runs

pytestmark = pytest.mark.prefect


def graph(path: Path) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    nodes = {
        (
            n["id"],
            n.get("name"),
            n.get("label"),
            n["kind"],
            tuple(n.get("aliases", ())),
            n.get("mention_count"),
            tuple(n.get("doc_ids", ())),
        )
        for n in data["nodes"]
    }
    edges_key = "edges" if "edges" in data else "links"
    edges = {(e["source"], e["target"], e.get("type"), e.get("key")) for e in data[edges_key]}
    return nodes, edges


def test_dask_runner_builds_the_same_graph_as_the_thread_runner(
    prefect_harness: None, corpus: Path, keyword_ner_model: Path, settings_for, tmp_path: Path
) -> None:
    from kgbuild_flows.build_kg import build_kg_flow

    thread = settings_for(keyword_ner_model).model_copy(update={"docs_per_batch": 8})
    dask = thread.model_copy(
        update={
            "out_dir": tmp_path / "dask-out",
            "orchestration": OrchestrationConfig(task_runner="dask", dask_workers=2),
        }
    )
    by_thread = build_kg_flow([str(corpus)], thread)
    by_dask = build_kg_flow([str(corpus)], dask)

    assert by_dask.processed == by_thread.processed == 30
    assert [r.processed for r in runs(dask)] == [30]  # its own ledger: model work done on Dask
    nodes, edges = graph(by_dask.outputs["json"])
    assert (nodes, edges) == graph(by_thread.outputs["json"])
    assert sum(1 for node in nodes if node[3] == "entity") == by_thread.entities > 0
