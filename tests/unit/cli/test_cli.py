import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from tests.processes import BuildProcess

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
    # rich reads ":name:" in help text as an emoji code (":END:" became an emoji)
    emoji = [c for c in result.output if ord(c) >= 0x1F000 or 0x2600 <= ord(c) <= 0x27BF]
    assert not emoji, f"help renders emoji {emoji}: write the text without ':word:'"
    # each paragraph flows to the width (80 here), not broken where the docstring's lines end
    text = result.output.partition("Usage:")[2].partition("╭")[0].split("\n")[2:]
    for paragraph in "\n".join(line.strip() for line in text).split("\n\n"):
        lines = paragraph.strip().splitlines()
        if lines and lines[0] != "Examples:":
            assert all(len(line) >= 50 for line in lines[:-1]), paragraph
    if not any(other[: len(command)] == command != other for other in _all_commands()):
        # a command (not a group) shows how it is called, each example on a line of its own
        examples = result.output.partition("Examples:")[2].partition("╭")[0].splitlines()
        assert f"kgbuild {' '.join(command)}" in "\n".join(examples), result.output
        assert all(line.strip().startswith("kgbuild ") for line in examples if line.strip())


def _docs(tmp_path: Path, **texts: str | bytes) -> Path:
    """``tmp_path / "docs"``, made holding ``NAME.txt`` for each ``NAME=text`` (bytes as they are)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in texts.items():
        if isinstance(text, bytes):
            (docs / f"{name}.txt").write_bytes(text)
        else:
            (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    return docs


def _build(docs: Path, out: Path, model: Path, *, exit_code: int = 0) -> Any:
    """``kgbuild build DOCS --out OUT --model MODEL --no-progress``, its result checked to
    have exited ``exit_code`` (the output shown when not)."""
    result = runner.invoke(
        app, ["build", str(docs), "--out", str(out), "--model", str(model), "--no-progress"]
    )
    assert result.exit_code == exit_code, result.output
    return result


def test_build_then_export_from_the_ledger(tmp_path: Path, keyword_ner_model: Path) -> None:
    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics in Toronto.")
    out = tmp_path / "out"
    result = _build(docs, out, keyword_ner_model)
    assert "1 documents (1 processed" in result.output
    (out / "graph.json").unlink()
    html = out / "graph.html"
    os.utime(html, ns=(0, 0))  # older than any rewrite, though the graph is unchanged
    result = runner.invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    nodes = json.loads((out / "graph.json").read_text(encoding="utf-8"))["nodes"]
    assert {"Maria Gonzalez", "Acme Robotics", "Toronto"} <= {n.get("name") for n in nodes}
    assert html.stat().st_mtime_ns > 0  # export writes every file, changed or not


def test_clear_errors_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "run `kgbuild build` first" in result.output


def test_build_exits_2_when_the_output_folder_is_a_file(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics.")
    afile = tmp_path / "graph.out"
    afile.write_text("not a folder", encoding="utf-8")
    for out in (afile, afile / "sub"):
        result = _build(docs, out, keyword_ner_model, exit_code=2)
        assert isinstance(result.exception, SystemExit)  # an error line, not a traceback
        assert f"error: cannot use {out} as the output folder" in result.output
    assert afile.read_text(encoding="utf-8") == "not a folder"


def test_build_exits_1_when_some_documents_failed_and_names_them(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    docs = _docs(tmp_path, good="Maria Gonzalez founded Acme Robotics.", empty="")
    result = _build(docs, tmp_path / "out", keyword_ner_model, exit_code=1)
    assert "1 processed" in result.output
    assert f"failed: {docs / 'empty.txt'}" in result.output
    assert "exit 1: 1 of 2 inputs failed" in result.output
    assert (tmp_path / "out" / "graph.json").is_file()  # the good document was built


def test_build_exits_2_when_every_input_failed_or_there_was_none(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    docs = _docs(tmp_path, empty="", binary=b"\x00\x01\x02" * 100)
    result = _build(docs, tmp_path / "out", keyword_ner_model, exit_code=2)
    assert "exit 2: nothing usable: every input failed (2 of 2)" in result.output
    assert "failed: " in result.output  # each one is listed

    nothing = tmp_path / "nothing"
    nothing.mkdir()
    result = _build(nothing, tmp_path / "out2", keyword_ner_model, exit_code=2)
    assert "exit 2: no input documents" in result.output


def test_build_exits_2_on_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "kgbuild.yaml"
    config.write_text("docs_per_batch: 0\n", encoding="utf-8")
    result = runner.invoke(
        app, ["build", str(tmp_path), "--config", str(config), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert "docs_per_batch" in result.output


def test_build_and_export_exit_2_while_another_process_holds_the_output_folder(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    from tests.unit.test_runlock import hold_lock

    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics.")
    out = tmp_path / "out"
    _build(docs, out, keyword_ner_model)
    before = (out / "graph.json").read_bytes()
    holder = hold_lock(out)
    try:
        (docs / "b.txt").write_text("David Chen works in Berlin.", encoding="utf-8")
        result = _build(docs, out, keyword_ner_model, exit_code=2)
        assert f"is in use by kgbuild build run_holder (pid {holder.pid} on host" in result.output
        result = runner.invoke(app, ["export", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert f"pid {holder.pid}" in result.output
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert (out / "graph.json").read_bytes() == before  # nothing was written meanwhile


def test_export_exits_2_when_the_ledger_holds_no_built_document(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    docs = _docs(tmp_path, empty="")
    _build(docs, tmp_path / "out", keyword_ner_model, exit_code=2)
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "holds no successfully built document" in result.output


def test_ask_cli_default_threshold_matches_the_engine() -> None:
    from kgbuild.cli.ask import DEFAULT_THRESHOLD as CLI_DEFAULT
    from kgbuild.qa.engine import DEFAULT_THRESHOLD

    assert CLI_DEFAULT == DEFAULT_THRESHOLD


def test_neo4j_stop_says_when_no_server_was_running(tmp_path: Path) -> None:
    home = tmp_path / "neo4j-home"
    result = CliRunner().invoke(app, ["neo4j", "stop", "--home", str(home), "--no-docker"])
    assert result.exit_code == 0, result.output
    assert "was not running" in result.output and "neo4j stopped" not in result.output


def test_a_cypher_table_keeps_a_multi_line_sentence_on_its_row() -> None:
    # a Chunk's text with line breaks (a list, a Windows file) broke its row over several
    # lines; an escape sequence in a document reached the terminal
    from kgbuild.cli.neo4j import render_table

    rows = [
        {"text": "Speakers\r\nJohn Smith\rDavid Chen \x1b[2J", "n": 1},
        {"text": "Acme", "n": 2},
    ]
    table = render_table(["text", "n"], rows, max_width=None)
    assert "\r" not in table and "\x1b" not in table
    lines = table.splitlines()
    assert len(lines) == 5  # header, rule, two rows, count
    assert lines[2].startswith("Speakers\\r\\nJohn Smith\\rDavid Chen \\x1b[2J | 1")


def test_cypher_refuses_a_parameter_nested_too_deeply_in_one_line() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    result = runner.invoke(
        app, ["cypher", "RETURN $x", "-p", f"x={deep}", "--neo4j", "bolt://127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: --param x: its JSON value nests arrays or objects too deeply to read"
    )


def test_ask_and_serve_exit_2_on_a_bad_or_unreachable_neo4j(tmp_path: Path) -> None:
    for command in (["ask", "Where is Acme based?", "--no-server"], ["serve"]):
        result = runner.invoke(app, [*command, "--neo4j", "notauri", "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)  # an error line, not a traceback
        assert "error: neo4j uri: 'notauri' is not a Neo4j URI" in result.output
        result = runner.invoke(
            app, [*command, "--neo4j", "bolt://127.0.0.1:1", "--out", str(tmp_path)]
        )
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert "error: Neo4j at bolt://127.0.0.1:1 (database 'neo4j') is unavailable" in (
            result.output
        )


def test_serve_refuses_a_port_out_of_range_before_loading_anything(tmp_path: Path) -> None:
    for port in ("70000", "0", "-1"):
        result = runner.invoke(app, ["serve", "--port", port, "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)  # a usage error, not a traceback
        assert "Invalid value for '--port'" in result.output


@pytest.mark.parametrize("json_out", ["a folder", "under a file", "a new file"])
def test_evaluate_refuses_a_json_out_it_cannot_write_before_scoring(
    tmp_path: Path, random_ner_model: Path, json_out: str
) -> None:
    from tests.conftest import write_keyword_conll

    data = write_keyword_conll(tmp_path / "dev.txt", 5, seed=3)
    afile = tmp_path / "afile"
    afile.write_text("not a folder", encoding="utf-8")
    target, message = {
        "a folder": (tmp_path, f"error: --json-out {tmp_path} is a folder: name a file"),
        "under a file": (
            afile / "scores.json",
            f"error: cannot write the scores to {afile / 'scores.json'}",
        ),
        "a new file": (tmp_path / "new" / "scores.json", None),
    }[json_out]
    args = ["--model", str(random_ner_model), "--data", str(data), "--json-out", str(target)]
    result = runner.invoke(app, ["evaluate", "ner", *args])
    if message is None:
        assert result.exit_code == 0, result.output
        assert json.loads(target.read_text(encoding="utf-8"))["task"] == "ner"
        return
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # an error line, not a traceback
    assert message in result.output
    assert "entities: P/R/F1" not in result.output  # refused before the model ran


def test_build_piped_logs_document_progress_instead_of_a_bar(
    tmp_path: Path, random_ner_model: Path
) -> None:
    """stderr to a pipe or a log file: INFO lines, never a bar's carriage-return updates."""
    import subprocess
    import sys

    docs = _docs(tmp_path, **{str(n): "Maria Gonzalez works in Berlin." for n in range(3)})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgbuild",
            "build",
            str(docs),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(random_ner_model),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KGBUILD_DOCS_PER_BATCH": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "doc/s" not in done.stderr, done.stderr
    for line in ("documents: 30% (1/3)", "documents: 60% (2/3)", "documents: 100% (3/3)"):
        assert line in done.stderr
    assert "3 documents (3 processed" in done.stdout


def test_a_misspelled_kgbuild_variable_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "KGBUILD_NER_MODEL": "models/my-ner",  # one '_': KGBUILD_NER__MODEL
        "KGBUILD_DOCS_PER_BACH": "4",
        "KGBUILD_REPO": "/src/kgbuild",  # prefect.yaml's: no setting, and not like one
    }
    with caplog.at_level("WARNING", logger="kgbuild.config"):
        result = runner.invoke(app, ["export", "--out", str(tmp_path)], env=env)
    assert result.exit_code == 2, result.output  # no ledger there
    warnings = [r.getMessage() for r in caplog.records if r.name == "kgbuild.config"]
    assert any(
        w.startswith(
            "KGBUILD_NER_MODEL names no setting and is ignored: did you mean KGBUILD_NER__MODEL?"
        )
        for w in warnings
    ), warnings
    assert any("KGBUILD_DOCS_PER_BACH" in w and "KGBUILD_DOCS_PER_BATCH?" in w for w in warnings)
    assert not any("KGBUILD_REPO" in w for w in warnings)


@pytest.mark.parametrize("docs", ["abc", "10", "1:2:3"])
def test_evaluate_ner_says_when_docs_is_not_a_range(tmp_path: Path, docs: str) -> None:
    from tests.conftest import write_keyword_conll

    data = write_keyword_conll(tmp_path / "dev.txt", 5, seed=3)
    args = ["--model", "default", "--data", str(data), "--docs", docs]
    result = runner.invoke(app, ["evaluate", "ner", *args])
    assert result.exit_code == 2, result.output
    assert f"--docs '{docs}' is not FIRST:END" in result.output  # not "no such file"
    assert "does not exist" not in result.output


def test_ask_with_a_folder_as_graph_names_the_file_to_give(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, ["ask", "Where is Acme based?", "--graph", str(out)])
    assert result.exit_code == 2, result.output
    assert f"error: {out} is a folder: give the graph file ({out / 'graph.json'})" in (
        result.output.replace("\n", "")
    )
    assert f"--out {tmp_path}`" not in result.output  # not: build into its parent


def test_build_help_names_every_input_format() -> None:
    from kgbuild.stages.formats import EXTENSIONS

    result = runner.invoke(app, ["build", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for suffix in (".txt", ".md", ".jsonl", *EXTENSIONS):
        assert suffix in result.output, suffix


def test_schedule_refuses_a_missing_input_path_and_reads_a_quoted_home(tmp_path: Path) -> None:
    from kgbuild.cli.schedule import schedule_overrides

    env = {"PREFECT_API_URL": "http://127.0.0.1:1/api", "HOME": str(tmp_path)}
    result = runner.invoke(
        app, ["schedule", str(tmp_path / "missing"), "--interval", "60"], env=env
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"error: input path {tmp_path / 'missing'} does not exist" in result.output
    # '~/notes' quoted (a cron line, a service file): the home folder, not ./~/notes
    result = runner.invoke(app, ["schedule", "~/notes", "--interval", "60"], env=env)
    assert f"error: input path {tmp_path / 'notes'} does not exist" in result.output
    os.environ["HOME"], home = str(tmp_path), os.environ["HOME"]
    try:
        overrides = schedule_overrides(Path("~/out"), None, None, None)
    finally:
        os.environ["HOME"] = home
    assert overrides["out_dir"] == str(tmp_path / "out")


def test_a_config_file_under_a_quoted_home_is_found(tmp_path: Path) -> None:
    (tmp_path / "kgbuild.yaml").write_text("docs_per_batch: 0\n", encoding="utf-8")
    env = {"HOME": str(tmp_path)}
    for args, extra in (
        (["--config", "~/kgbuild.yaml"], {}),
        ([], {"KGBUILD_CONFIG": "~/kgbuild.yaml"}),
    ):
        result = runner.invoke(
            app, ["export", "--out", str(tmp_path / "out"), *args], env={**env, **extra}
        )
        assert result.exit_code == 2, result.output
        # the file was read: its invalid field is reported, not "config file not found"
        assert f"invalid configuration in {tmp_path / 'kgbuild.yaml'}: docs_per_batch" in (
            result.output.replace("\n", "")
        )


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run ``python -m kgbuild ARGS`` with stdout and stderr on a pseudo-terminal."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kgbuild", *args],
            stdout=slave,
            stderr=slave,
            env={**os.environ, **env},
            timeout=300,
            check=False,
        )
    finally:
        os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return done.returncode, output


def test_no_color_turns_the_error_colour_off_on_a_terminal(tmp_path: Path) -> None:
    args = ["export", "--out", str(tmp_path)]
    code, coloured = _on_a_terminal(args, {"NO_COLOR": ""})  # empty: no effect
    assert code == 2 and b"\x1b[31merror: no run ledger" in coloured, coloured
    code, plain = _on_a_terminal(args, {"NO_COLOR": "1"})
    assert code == 2, plain
    assert b"error: no run ledger" in plain and b"\x1b[" not in plain, plain


def test_build_records_a_file_name_that_is_not_utf8_as_a_failure(
    tmp_path: Path, random_ner_model: Path
) -> None:
    docs = _docs(tmp_path, good="Maria Gonzalez works in Berlin.")
    latin1 = docs / os.fsdecode(b"caf\xe9.txt")  # a name from a Latin-1 archive
    latin1.write_text("David Chen works in Lisbon.", encoding="utf-8")
    result = _build(docs, tmp_path / "out", random_ner_model, exit_code=1)
    assert isinstance(result.exception, SystemExit)  # was a UnicodeEncodeError traceback
    assert "1 processed" in result.output
    assert "failed: " in result.output and "caf\\udce9.txt" in result.output
    assert "exit 1: 1 of 2 inputs failed" in result.output


def test_build_and_export_exit_2_when_the_ledger_database_cannot_be_opened(
    tmp_path: Path, random_ner_model: Path
) -> None:
    docs = _docs(tmp_path, a="Maria Gonzalez works in Berlin.")
    a_folder = tmp_path / "folder"
    a_folder.mkdir()
    for url, shown in (
        (f"sqlite:///{a_folder.as_posix()}", f"'sqlite:///{a_folder.as_posix()}'"),
        (
            "postgresql+psycopg://kg:secret-pw@127.0.0.1:1/kg",  # no server on port 1
            "'postgresql+psycopg://kg:***@127.0.0.1:1/kg'",
        ),
    ):
        env = {"KGBUILD_LEDGER_URL": url}
        for args in (
            [
                "build",
                str(docs),
                "--out",
                str(tmp_path / "out"),
                "--no-progress",
                "--model",
                str(random_ner_model),
            ],
            ["export", "--out", str(tmp_path / "out")],
        ):
            result = runner.invoke(app, args, env=env)
            assert result.exit_code == 2, result.output
            assert isinstance(result.exception, SystemExit)  # was an OperationalError traceback
            assert f"error: the run ledger {shown} cannot be reached or written (" in (
                result.output.replace("\n", "")
            )
            assert "secret-pw" not in result.output


@pytest.mark.parametrize(
    "task", [["re", "--model", "default"], ["pipeline"], ["ner", "--model", "default"]]
)
def test_evaluate_says_when_the_data_file_is_a_folder(tmp_path: Path, task: list[str]) -> None:
    args = ["--data", str(tmp_path), "--json-out", str(tmp_path / "s.json")]
    result = runner.invoke(app, ["evaluate", *task, *args])
    assert result.exit_code == 2, result.output
    assert f"error: data file {tmp_path} is a folder, not a file" in result.output


def test_a_folder_given_as_config_is_named_a_folder(tmp_path: Path) -> None:
    for args, env in (
        (["--config", str(tmp_path)], {}),
        ([], {"KGBUILD_CONFIG": str(tmp_path)}),
    ):
        result = runner.invoke(app, ["export", "--out", str(tmp_path / "o"), *args], env=env)
        assert result.exit_code == 2, result.output
        assert f"error: config file {tmp_path}" in result.output
        assert "is a folder: name the YAML file in it" in result.output.replace("\n", "")
        assert "not found" not in result.output


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)]
)
def test_a_stopped_export_exits_cleanly_and_leaves_no_partial_file(
    tmp_path: Path, keyword_ner_model: Path, signum: int, status: int
) -> None:
    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics.")
    out = tmp_path / "out"
    _build(docs, out, keyword_ner_model)
    before = (out / "graph.html").read_bytes()
    # The HTML file is written as .graph.html.partial first: made a named pipe here, the
    # export blocks writing it (the explorer is far larger than a pipe holds) until read.
    staged = out / ".graph.html.partial"
    os.mkfifo(staged)
    process = BuildProcess(["export", "--out", str(out)])
    try:
        opened: list[int] = []
        reader = threading.Thread(target=lambda: opened.append(os.open(staged, os.O_RDONLY)))
        reader.daemon = True
        reader.start()
        reader.join(timeout=300)
        assert opened, process.output  # the export is writing the HTML file
        process.process.send_signal(signum)
        while os.read(opened[0], 1 << 16):  # let it go on, should the signal not stop it
            pass
        os.close(opened[0])
        assert process.finish() == status, process.output
    finally:
        process.stop()
    assert f"interrupted (stopped by {signal.Signals(signum).name})" in process.output
    assert "Traceback" not in process.output
    assert sorted(path.name for path in out.iterdir() if path.name.startswith(".")) == []
    assert (out / "graph.html").read_bytes() == before  # the last one, whole


def _with_closed_stdout(args: list[str]) -> tuple[int, str]:
    """Run ``python -m kgbuild ARGS`` with stdout a pipe whose reader is gone (``| true``)."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kgbuild", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


def test_a_closed_stdout_ends_a_command_quietly_with_the_sigpipe_status(
    tmp_path: Path, keyword_ner_model: Path
) -> None:
    for args in (["--help"], ["evaluate", "ner", "--help"]):
        code, errors = _with_closed_stdout(args)
        assert (code, errors) == (141, ""), errors
    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics.")
    out = tmp_path / "out"
    args = ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model)]
    code, errors = _with_closed_stdout([*args, "--no-progress"])
    # not 1, which says that some documents failed: the build is done, its summary unread
    assert code == 141, errors
    assert "Traceback" not in errors and "error:" not in errors, errors
    assert (out / "graph.json").is_file()
    code, errors = _with_closed_stdout(["export", "--out", str(out)])
    assert (code, errors) == (141, ""), errors


def test_quiet_and_verbose_apply_to_any_command(tmp_path: Path, keyword_ner_model: Path) -> None:
    import subprocess
    import sys

    docs = _docs(tmp_path, a="Maria Gonzalez founded Acme Robotics.")
    out = tmp_path / "out"

    def kgbuild(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kgbuild", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    build = ["build", str(docs), "--out", str(out), "--model", str(keyword_ner_model)]
    quiet = kgbuild("--quiet", *build)
    assert quiet.returncode == 0, quiet.stderr
    assert " INFO " not in quiet.stderr and "1 documents (1 processed" in quiet.stdout
    (docs / "b.txt").write_text("Acme Robotics is in Toronto.", encoding="utf-8")
    verbose = kgbuild("-v", *build)
    assert verbose.returncode == 0, verbose.stderr
    assert " INFO kgbuild" in verbose.stderr and " DEBUG kgbuild" in verbose.stderr
    exported = kgbuild("-q", "export", "--out", str(out))
    assert (exported.returncode, exported.stderr) == (0, ""), exported.stderr
    both = kgbuild("-q", "-v", "export", "--out", str(out))
    assert both.returncode == 2 and "not both" in both.stderr, both.stderr


def test_ctrl_c_while_the_cli_is_built_exits_130_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    # a real SIGINT, delivered while Typer turns the app into its command tree (before
    # any command runs, where Typer's own Ctrl-C handling does not reach)
    script = (
        "import os, signal, sys, typer.main\n"
        "real = typer.main.get_command\n"
        "def get_command(app):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(app)\n"
        "typer.main.get_command = get_command\n"
        f"sys.argv = ['kgbuild', 'export', '--out', {str(tmp_path)!r}]\n"
        "from kgbuild.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert (done.returncode, done.stderr) == (130, ""), done.stderr


class _CtrlCWhenTrainingStarts(logging.Handler):
    """Sends this process a real SIGINT once the trainer logs that training starts."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("trainable parameters"):
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_while_training_says_what_out_holds_and_what_to_run(tmp_path: Path) -> None:
    """Ctrl-C mid-training ended `kgbuild train ner` with nothing printed at all."""
    from kgbuild.nlp.tiny import make_tiny_bert
    from tests.conftest import write_keyword_conll

    base = make_tiny_bert(tmp_path / "base", ["O"])
    train = write_keyword_conll(tmp_path / "train.txt", 8, seed=1)
    out = tmp_path / "model"
    args = ["--train", str(train), "--dev", str(train), "--out", str(out), "--base", str(base)]
    trainer_log = logging.getLogger("kgbuild.training.ner")
    handler, level = _CtrlCWhenTrainingStarts(), trainer_log.level
    trainer_log.addHandler(handler)
    trainer_log.setLevel(logging.INFO)
    try:
        result = runner.invoke(app, ["train", "ner", *args, "--epochs", "1", "--device", "cpu"])
    finally:
        trainer_log.removeHandler(handler)
        trainer_log.setLevel(level)
    assert result.exit_code == 130, result.output
    assert (
        f"interrupted (stopped by SIGINT): {out} holds no new model: run the command again "
        "to train from the start"
    ) in result.output
    assert not (out / "kgbuild_model.json").exists()


def _reencoded(source: Path, target: Path, codec: str, bom: bytes = b"") -> Path:
    """``source`` (UTF-8 text) written again as ``target`` in ``codec``."""
    target.write_bytes(bom + source.read_text(encoding="utf-8").encode(codec))
    return target


def test_evaluate_ner_reads_utf16_and_a_code_page_given_with_encoding(
    tmp_path: Path, random_ner_model: Path
) -> None:
    from tests.conftest import write_keyword_conll

    data = write_keyword_conll(tmp_path / "dev.txt", 5, seed=3)
    with data.open("a", encoding="utf-8") as more:
        more.write("\nJosé O\nsaß O\n")

    def scores(path: Path, *options: str) -> Any:
        target = tmp_path / f"{path.stem}.json"
        args = ["--model", str(random_ner_model), "--data", str(path), "--json-out", str(target)]
        result = runner.invoke(app, ["evaluate", "ner", *args, "--device", "cpu", *options])
        assert result.exit_code == 0, result.output
        return {
            k: v for k, v in json.loads(target.read_text(encoding="utf-8")).items() if k != "data"
        }

    expected = scores(data)
    excel = _reencoded(data, tmp_path / "excel.txt", "utf-16-le", b"\xff\xfe")
    assert scores(excel) == expected  # a byte-order mark needs no option
    legacy = _reencoded(data, tmp_path / "legacy.txt", "cp1252")
    assert scores(legacy, "--encoding", "cp1252") == expected
    result = runner.invoke(
        app, ["evaluate", "ner", "--model", str(random_ner_model), "--data", str(legacy)]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # an error line, not a traceback
    line = legacy.read_bytes().count(b"\n", 0, legacy.read_bytes().index(b"Jos")) + 1
    assert f"{legacy}:{line}: not utf-8 text" in result.output
    assert "at byte" in result.output and "--encoding" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "ner", "--model", "default", "--data"],
        ["evaluate", "qa", "--model", "default", "--data"],
        ["evaluate", "graph", "--data"],
        ["train", "ner", "--out", "x", "--train"],
        ["train", "qa-questions", "--out", "x", "--conll04"],
        ["evaluate", "re", "--model", "default", "--data"],
        ["evaluate", "pipeline", "--data"],
        ["train", "re", "--out", "x", "--train"],
        ["train", "qa", "--out", "x", "--train"],
        ["train", "calibrate", ".", "--documents", "0:1", "--data"],
        ["train", "qa-verifier", "--reader", "r", "--verifier", "v", "--out", "x", "--data"],
    ],
)
def test_an_unknown_encoding_is_refused_before_anything_runs(
    tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("[]", encoding="utf-8")
    result = runner.invoke(app, [*command, str(data), "--encoding", "utf-9"])
    assert result.exit_code == 2, result.output
    assert "unknown encoding 'utf-9'" in result.output
    assert "Traceback" not in result.output


def test_train_qa_questions_reads_its_data_in_the_encoding_given(tmp_path: Path) -> None:
    from tests.conftest import in_cp1252, refused_then_read_in_cp1252, write_keyword_conll04

    legacy = in_cp1252(write_keyword_conll04(tmp_path / "legacy.json", 4, seed=0))
    out = tmp_path / "q.json"
    command = ["train", "qa-questions", "--conll04", str(legacy), "--out", str(out)]
    result = refused_then_read_in_cp1252(app, command, legacy)
    assert result.exit_code == 0, result.output
    assert "…" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["NAME"], "--label-map 'NAME': write TYPE=NEW (NAME=PER) or TYPE=O"),
        (["=PER"], "--label-map '=PER': write TYPE=NEW"),
        (["NAME=PER", "NAME=LOC"], "--label-map maps NAME twice (PER, LOC)"),
        (["NAMEX=PER"], "--label-map names NAMEX, which no source has (its types: LOC, NAME)"),
    ],
)
def test_train_ner_refuses_a_bad_label_map_before_training(
    tmp_path: Path, specs: list[str], message: str
) -> None:
    data = tmp_path / "train.bmes"
    data.write_text("张 B-NAME\n伟 E-NAME\n在 O\n法 B-LOC\n国 E-LOC\n", encoding="utf-8")
    args = ["--train", f"bmes:{data}", "--dev", f"bmes:{data}", "--out", str(tmp_path / "m")]
    options = [part for spec in specs for part in ("--label-map", spec)]
    result = runner.invoke(app, ["train", "ner", *args, *options])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "m").exists()
