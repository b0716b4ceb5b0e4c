"""Outputs are rewritten only when what they would hold changed (kgbuild.graph.outputs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import networkx as nx
import pytest

from kgbuild.errors import KGBuildError
from kgbuild.graph import outputs
from kgbuild.graph.export import node_link_text
from kgbuild.graph.outputs import (
    OUTPUT_FILES,
    RECORD_NAME,
    export_outputs,
    kept_outputs,
    refresh_html,
)


def _graph(name: str = "Acme Robotics") -> nx.MultiDiGraph[str]:
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    graph.add_node("doc:a", kind="document", id="a", source="a.txt", content_hash="h")
    graph.add_node(
        "ent_1", kind="entity", label="ORG", name=name, aliases=[name], mention_count=1,
        doc_ids=["a"],
    )  # fmt: skip
    graph.add_edge("ent_1", "doc:a", key="MENTIONED_IN", type="MENTIONED_IN", count=1)
    return graph


def _stamps(out: Path) -> dict[str, int]:
    return {name: (out / filename).stat().st_mtime_ns for name, filename in OUTPUT_FILES.items()}


def _age(out: Path) -> None:
    """Set every output's time an hour back, so that any rewrite shows as a new time."""
    for filename in OUTPUT_FILES.values():
        path = out / filename
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3_600_000_000_000))
    # the record holds the times as written: re-export once so that it holds the aged ones
    record = json.loads((out / RECORD_NAME).read_text(encoding="utf-8"))
    for name, filename in OUTPUT_FILES.items():
        stat = (out / filename).stat()
        record["files"][name] = [stat.st_size, stat.st_mtime_ns]
    (out / RECORD_NAME).write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    paths = export_outputs(_graph(), out)
    assert {name: path.name for name, path in paths.items()} == OUTPUT_FILES
    _age(out)
    return out


def test_a_new_cap_on_the_html_pages_rewrites_the_html_alone(exported: Path) -> None:
    before = _stamps(exported)
    export_outputs(_graph(), exported, html_pages=0)
    after = _stamps(exported)
    assert after["html"] != before["html"]
    assert '"paged": [0, 1]' in (exported / "graph.html").read_text(encoding="utf-8")
    # GraphML, JSON and sentences do not depend on the cap: kept as written
    assert {name: after[name] for name in ("graphml", "json", "sentences")} == {
        name: before[name] for name in ("graphml", "json", "sentences")
    }
    _age(exported)
    aged = _stamps(exported)
    export_outputs(_graph(), exported, html_pages=0)  # the same cap again: nothing to write
    assert _stamps(exported) == aged


def test_refresh_html_writes_the_html_of_a_new_cap_from_the_kept_json(exported: Path) -> None:
    """A build that keeps its outputs writes graph.html alone for a new graph.html_pages."""
    before = _stamps(exported)
    assert refresh_html(exported, None)  # the cap it was written for: kept
    assert _stamps(exported) == before
    assert refresh_html(exported, 0)
    after = _stamps(exported)
    assert [name for name in OUTPUT_FILES if after[name] != before[name]] == ["html"]
    written = (exported / "graph.html").read_text(encoding="utf-8")
    assert '"paged": [0, 1]' in written
    # the file an export writes for that cap, byte for byte; the record knows it
    other = export_outputs(_graph(), exported.parent / "other", html_pages=0)["html"]
    assert written == other.read_text(encoding="utf-8")
    _age(exported)
    aged = _stamps(exported)
    export_outputs(_graph(), exported, html_pages=0)
    assert _stamps(exported) == aged
    # a graph.json not as written: no telling what graph it holds
    with (exported / "graph.json").open("a", encoding="utf-8") as handle:
        handle.write(" ")
    assert not refresh_html(exported, None)
    (exported / RECORD_NAME).unlink()
    assert not refresh_html(exported, None)


def test_the_same_graph_keeps_every_file_as_written(exported: Path, caplog) -> None:
    before = _stamps(exported)
    with caplog.at_level("INFO", logger="kgbuild.graph.outputs"):
        export_outputs(_graph(), exported)
    assert _stamps(exported) == before
    assert "graph.graphml, graph.json, graph.html, sentences.jsonl kept" in caplog.text


def test_changed_sentences_alone_rewrite_the_sentences_alone(exported: Path) -> None:
    before = _stamps(exported)
    line = '{"doc_id": "a", "source": "a.txt", "sentences": []}\n'
    export_outputs(_graph(), exported, sentences=line)
    after = _stamps(exported)
    assert [name for name in OUTPUT_FILES if after[name] != before[name]] == ["sentences"]
    assert (exported / "sentences.jsonl").read_text(encoding="utf-8") == line


def test_a_changed_graph_rewrites_every_file_of_the_graph(exported: Path) -> None:
    before = _stamps(exported)
    export_outputs(_graph("Acme Robotics GmbH"), exported)
    after = _stamps(exported)
    assert [name for name in OUTPUT_FILES if after[name] != before[name]] == [
        "graphml",
        "json",
        "html",
    ]  # the same sentences: sentences.jsonl kept
    assert "Acme Robotics GmbH" in (exported / "graph.html").read_text(encoding="utf-8")
    text = (exported / "graph.json").read_text(encoding="utf-8")
    assert text == node_link_text(_graph("Acme Robotics GmbH"))


def test_a_deleted_or_edited_file_is_written_again(exported: Path) -> None:
    before = _stamps(exported)
    (exported / "graph.html").unlink()
    with (exported / "graph.json").open("a", encoding="utf-8") as handle:
        handle.write("edited by hand\n")
    export_outputs(_graph(), exported)
    after = _stamps(exported)
    assert after["graphml"] == before["graphml"]
    assert after["json"] != before["json"] and after["html"] != before["html"]
    assert (exported / "graph.json").read_text(encoding="utf-8") == node_link_text(_graph())
    assert "vis.Network" in (exported / "graph.html").read_text(encoding="utf-8")


def test_a_malformed_record_rewrites_every_file(exported: Path) -> None:
    before = _stamps(exported)
    record = json.loads((exported / RECORD_NAME).read_text(encoding="utf-8"))
    (exported / RECORD_NAME).write_text(json.dumps({**record, "files": []}), encoding="utf-8")
    export_outputs(_graph(), exported)
    assert all(_stamps(exported)[name] != before[name] for name in OUTPUT_FILES)
    (exported / RECORD_NAME).write_text("[1, 2", encoding="utf-8")
    export_outputs(_graph(), exported)
    assert json.loads((exported / RECORD_NAME).read_text(encoding="utf-8"))["files"]


def test_force_or_a_missing_record_rewrites_every_file(exported: Path) -> None:
    before = _stamps(exported)
    export_outputs(_graph(), exported, force=True)
    forced = _stamps(exported)
    assert all(forced[name] != before[name] for name in OUTPUT_FILES)
    _age(exported)
    aged = _stamps(exported)
    (exported / RECORD_NAME).unlink()  # as a crash while writing leaves it
    export_outputs(_graph(), exported)
    assert all(_stamps(exported)[name] != aged[name] for name in OUTPUT_FILES)


def test_kept_outputs_only_for_the_same_inputs_and_intact_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    totals = {"entities": 1, "mentions": 1}
    export_outputs(_graph(), out)  # no inputs recorded: nothing to keep by them
    assert kept_outputs(out, "inputs-1") is None
    paths = export_outputs(_graph(), out, inputs="inputs-1", totals=totals)
    assert kept_outputs(out, "inputs-1") == (paths, totals)
    assert kept_outputs(out, "inputs-2") is None
    (out / "graph.graphml").write_text("<graphml/>", encoding="utf-8")
    assert kept_outputs(out, "inputs-1") is None
    export_outputs(_graph(), out, inputs="inputs-1", totals=totals)
    assert kept_outputs(out, "inputs-1") == (paths, totals)
    record = json.loads((out / RECORD_NAME).read_text(encoding="utf-8"))
    (out / RECORD_NAME).write_text(
        json.dumps({**record, "totals": {"entities": "one"}}), encoding="utf-8"
    )
    assert kept_outputs(out, "inputs-1") is None  # a record edited by hand is not trusted
    export_outputs(_graph(), out, force=True)  # kgbuild export: no inputs
    assert kept_outputs(out, "inputs-1") is None


def test_other_writers_rewrite_the_files_of_an_unchanged_graph(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgrading kgbuild, networkx, pyvis or the explorer's code refreshes every file."""
    before = _stamps(exported)
    monkeypatch.setattr(outputs, "code_digest", lambda: "other writers")
    export_outputs(_graph(), exported)
    assert all(_stamps(exported)[name] != before[name] for name in OUTPUT_FILES)


def test_the_code_digest_follows_the_explorer_page_and_versions(tmp_path: Path) -> None:
    files = outputs.code_files()
    names = {path for path, _ in files}
    assert {
        "graph/export.py",
        "stages/resolve/fuzzy.py",
        "explorer/assets/explorer.js",
        "explorer/assets/explorer.html",
    } <= names
    assert not any("__pycache__" in path for path in names)
    copies = []
    for path, source in files:
        copy = tmp_path / path.replace("/", "__")
        copy.write_bytes(source.read_bytes())
        copies.append((path, copy))
    versions = {"kgbuild": "1.0", "networkx": "3.0", "pyvis": "0.3"}
    digest = outputs.sources_digest(versions, copies)
    assert digest == outputs.sources_digest(dict(reversed(versions.items())), copies)
    assert digest != outputs.sources_digest({**versions, "kgbuild": "1.1"}, copies)
    script = tmp_path / "explorer__assets__explorer.js"
    script.write_text(script.read_text(encoding="utf-8") + "\n// changed", encoding="utf-8")
    assert outputs.sources_digest(versions, copies) != digest


def test_an_output_that_cannot_be_written_is_an_error_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "graph.html").mkdir(parents=True)  # a folder where the file goes
    with pytest.raises(KGBuildError, match=r"cannot write the graph files into .*graph\.html"):
        export_outputs(_graph(), out)
    export_outputs(_graph(), tmp_path / "other")  # elsewhere it writes


def test_a_write_that_fails_midway_keeps_the_last_files_whole(tmp_path: Path) -> None:
    """A real write cut short: a child process under a file size limit (as a full disk).

    Writes stopped at the limit left graph.json (and the others) cut short in place: the
    last build's graph was lost and ``kgbuild ask`` could no longer read it.
    """
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "out"
    export_outputs(_graph(), out)
    before = {name: (out / name).read_bytes() for name in OUTPUT_FILES.values()}
    limit = max(len(data) for data in before.values()) + 1024  # old files fit, new ones not
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from kgbuild.errors import KGBuildError
        from kgbuild.graph.outputs import export_outputs
        from tests.unit.graph.test_outputs import _graph

        graph = _graph("Acme Robotics " + "x" * {limit})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        try:
            export_outputs(graph, Path(sys.argv[1]))
        except KGBuildError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot write the graph files into" in done.stdout and "File too large" in done.stdout
    assert {name: (out / name).read_bytes() for name in OUTPUT_FILES.values()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES.values()])
    json.loads((out / "graph.json").read_text(encoding="utf-8"))
