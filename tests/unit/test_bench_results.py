"""Benchmark results say where, on what and how they were measured, and the docs show them as they are.

bench/_meta.py defines what a result's ``meta`` holds; bench/report.py renders
docs/benchmarks.md from the result files.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"


def bench_module(name: str, module_name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (a folder of scripts, not a package; they import ``_meta``)."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


meta = bench_module("_meta", "_meta")
report = bench_module("report", "bench_report")


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_result_file_records_commit_machine_load_and_command(path: Path) -> None:
    assert meta.problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_ner_benchmark_is_measured_not_stale() -> None:
    for name in ("ner.json", "ner_fp32.json"):
        recorded = json.loads((RESULTS / name).read_text(encoding="utf-8"))["meta"]
        assert "stale" not in recorded and recorded["command"].split()[1] == "bench/bench_ner.py"


def test_the_shipped_attribute_point_is_the_one_its_benchmark_chose() -> None:
    from kgbuild.config import AttributeConfig

    recorded = json.loads((RESULTS / "attribute_points.json").read_text(encoding="utf-8"))
    assert recorded["chosen"] == AttributeConfig().min_precision
    chosen = next(r for r in recorded["points"] if r["min_precision"] == recorded["chosen"])
    assert chosen["choosing_lower_bound"] >= 0.85 and chosen["held_out"]["wrong_type"] == 0


def test_a_run_records_this_checkout_and_machine(tmp_path: Path) -> None:
    run = meta.start()
    written = meta.write_result(tmp_path / "x.json", {"value": 1}, run)
    result = json.loads(written.read_text(encoding="utf-8"))
    assert result["value"] == 1 and meta.problems(result) == []
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert result["meta"]["commit"] == head
    assert result["meta"]["machine"]["cores"] >= 1
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        line = next((x for x in cpuinfo.read_text().splitlines() if x.startswith("flags")), "")
        flags = set(line.partition(":")[2].split())
    assert result["meta"]["machine"]["cpu_features"] == [
        name for name in meta.MATRIX_FEATURES if name in flags
    ]
    with pytest.raises(ValueError, match="meta"):
        meta.write_result(tmp_path / "y.json", {"meta": {}}, run)


def test_problems_name_what_is_missing() -> None:
    complete: dict[str, Any] = {"meta": meta.start().meta()}
    assert meta.problems(complete) == []
    broken = copy.deepcopy(complete)
    broken["meta"]["commit"] = "HEAD"
    del broken["meta"]["machine"]["torch_threads"]
    broken["meta"]["load_average"]["after"] = []
    assert meta.problems(broken) == [
        "commit is not a 40-digit hash",
        "no torch_threads (null when torch is not used)",
        "no load average before and after",
    ]
    assert meta.problems({"value": 1}) == ["no 'meta' object"]
    assert meta.problems({"meta": {"stale": True, "reason": " "}}) == ["stale without a reason"]
    assert meta.problems({"meta": {"stale": True, "reason": "measured before"}}) == []


def test_docs_benchmarks_is_generated_from_the_results() -> None:
    document = report.DOC.read_text(encoding="utf-8")
    assert document == report.updated(document, report.load_results()), (
        "docs/benchmarks.md is out of date: run python bench/report.py"
    )


def test_the_report_shows_each_results_figures_and_is_regenerated_in_place() -> None:
    results = report.load_results()
    rendered = report.render(results)
    for name in results:
        assert f"`{name}.json`" in rendered
    ner = results["ner"]
    assert f"**{ner['kgbuild_stage_sps']:,.1f}**" in rendered
    assert f"**{ner['speedup_vs_batched']:,.2f}x**" in rendered
    changed = copy.deepcopy(results)
    changed["ner"]["kgbuild_stage_sps"] = 12345.6
    document = report.updated(
        "intro\n" + report.BEGIN + "\nOLD-TABLE-TEXT\n" + report.END + "\nend\n", changed
    )
    assert document.startswith("intro\n") and document.endswith("end\n")
    assert "**12,345.6**" in document and "OLD-TABLE-TEXT" not in document
