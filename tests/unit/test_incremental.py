"""An incremental re-run builds the graph that a build from scratch of the same corpus builds."""

import json
from pathlib import Path
from typing import Any

from kgbuild.config import NerConfig, Settings
from kgbuild.pipeline import build

BEFORE = {
    "a.txt": "Maria Gonzalez founded Acme Robotics in Toronto. Gonzalez later moved to Berlin.",
    "b.txt": "David Chen said that Acme Robotics and Northwind Logistics work in Nairobi.",
    "c.txt": "Omar Haddad works for Granite Capital in Lisbon. Haddad met Linda Chen.",
    "d.txt": "Linda Chen runs Helix in Berlin. Chen said Helix works with Northwind Logistics.",
    "e.txt": "Northwind Logistics opened in Lisbon. Maria Gonzalez visited Nairobi.",
}
CHANGED = {
    "b.txt": "David Chen moved to Toronto. Chen works for Granite Capital and Helix.",
}


def _write(folder: Path, docs: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")


def _without_runs(value: Any) -> Any:
    """``value`` without the ids of the runs that read each fact (the only thing a re-run
    may write differently: an unchanged document keeps the run that extracted it)."""
    if isinstance(value, dict):
        return {k: _without_runs(v) for k, v in value.items() if k != "run_id"}
    if isinstance(value, list):
        return [_without_runs(v) for v in value]
    return value


def _graph(report_json: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    data = json.loads(report_json.read_text(encoding="utf-8"))
    nodes = {node["id"]: _without_runs(node) for node in data["nodes"]}
    edges = {(e["source"], e["target"], e["key"]): _without_runs(e) for e in data["edges"]}
    return nodes, edges


def test_a_rerun_after_one_change_builds_what_a_build_from_scratch_builds(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    def settings(out: str) -> Settings:
        return Settings(out_dir=tmp_path / out, ner=NerConfig(model=str(keyword_ner_model)))

    incremental = settings("incremental")
    folder = tmp_path / "docs"
    _write(folder, BEFORE)
    first = _graph(build([folder], incremental).outputs["json"])
    _write(folder, CHANGED)
    (folder / "e.txt").unlink()
    _write(folder, {"f.txt": "Omar Haddad and David Chen met in Nairobi at Granite Capital."})
    again = build([folder], incremental)
    assert (again.processed, again.skipped, again.deleted) == (2, 3, 1)

    scratch = build([folder], settings("scratch"))  # the final corpus, from scratch

    nodes, edges = _graph(again.outputs["json"])
    fresh_nodes, fresh_edges = _graph(scratch.outputs["json"])
    # the same entities under the same ids, with the same names, mentions and merges
    assert nodes.keys() == fresh_nodes.keys()
    assert nodes == fresh_nodes
    # the same relations, mentions and co-occurrences, with the same provenance
    assert edges.keys() == fresh_edges.keys()
    assert edges == fresh_edges
    assert (again.entities, again.relations, again.mentions) == (
        scratch.entities,
        scratch.relations,
        scratch.mentions,
    )
    assert first != (nodes, edges)  # the change did change the graph
