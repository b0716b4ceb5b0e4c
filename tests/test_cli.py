import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app

runner = CliRunner()


def _all_commands() -> list[list[str]]:
    """Every command path of the CLI, groups included (found by walking the click tree)."""
    import typer.main

    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        if isinstance(getattr(command, "commands", None), dict):  # a group
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_the_cli_has_the_documented_commands() -> None:
    names = {" ".join(p) for p in _all_commands()}
    for expected in (
        "build",
        "train qa",
        "evaluate ner",
        "evaluate re",
        "evaluate qa",
        "evaluate pipeline",
        "neo4j start",
        "cypher",
    ):
        assert expected in names


@pytest.mark.parametrize("command", _all_commands(), ids=lambda p: " ".join(p) or "kgbuild")
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


def test_ask_cli_default_threshold_matches_the_engine() -> None:
    from kgbuild.cli_ask import DEFAULT_THRESHOLD as CLI_DEFAULT
    from kgbuild.qa.engine import DEFAULT_THRESHOLD

    assert CLI_DEFAULT == DEFAULT_THRESHOLD
