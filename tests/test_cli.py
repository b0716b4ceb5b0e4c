import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["build"],
        ["export"],
        ["train"],
        ["train", "ner"],
        ["train", "re"],
        ["evaluate-ner"],
        ["evaluate-re"],
        ["neo4j"],
        ["neo4j", "start"],
        ["neo4j", "status"],
        ["cypher"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_build_then_export_from_the_ledger(tmp_path: Path, keyword_ner_model: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(
        "Maria Gonzalez founded Acme Robotics in Toronto.", encoding="utf-8"
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "1 documents (1 processed" in result.output
    (out / "graph.json").unlink()
    result = runner.invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    nodes = json.loads((out / "graph.json").read_text(encoding="utf-8"))["nodes"]
    assert {"Maria Gonzalez", "Acme Robotics", "Toronto"} <= {n.get("name") for n in nodes}


def test_clear_errors_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "run `kgbuild build` first" in result.output
