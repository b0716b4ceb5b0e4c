"""The whole library pipeline, end to end, with the keyword-trained tiny model."""

import json
import shutil
from pathlib import Path

import networkx as nx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kgbuild.config import ResolveConfig
from kgbuild.pipeline import build
from kgbuild.store.sql.orm import DocumentRow, RunRow, StageEventRow, make_engine

DOCS = {
    "a.txt": "Maria Gonzalez founded Acme Robotics in Toronto. Acme Robotics later opened an office in Berlin.",
    "b.txt": "David Chen said that Acme Robotics and Northwind Logistics work in Nairobi.",
    "c.txt": "Omar Haddad works for Granite Capital in Lisbon.",
}


def corpus(tmp_path: Path, docs: dict[str, str] = DOCS) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def entities(graph_json: Path) -> dict[str, dict]:
    data = json.loads(graph_json.read_text(encoding="utf-8"))
    return {n["name"]: n for n in data["nodes"] if n["kind"] == "entity"}


def test_build_resolves_across_documents_and_exports(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(keyword_ner_model)
    report = build([corpus(tmp_path)], settings)
    assert (report.documents, report.processed, report.failed) == (3, 3, 0)
    found = entities(report.outputs["json"])
    acme = found["Acme Robotics"]
    assert acme["label"] == "ORG"
    assert acme["mention_count"] == 3
    assert acme["doc_ids"] == ["a.txt", "b.txt"]
    assert {"Maria Gonzalez", "David Chen", "Omar Haddad", "Berlin", "Toronto"} <= set(found)
    assert report.entities == len(found)
    # GraphML round-trips; provenance is kept on every MENTIONED_IN edge
    graph = nx.read_graphml(report.outputs["graphml"])
    edges = [d for _, _, d in graph.edges(data=True) if d["type"] == "MENTIONED_IN"]
    assert len(edges) == sum(len(e["doc_ids"]) for e in found.values())
    provenance = json.loads(edges[0]["provenance"])[0]
    assert {
        "doc_id",
        "chunk_id",
        "start",
        "end",
        "score",
        "model",
        "model_revision",
        "run_id",
    } <= set(provenance)
    text = DOCS[provenance["doc_id"]]
    assert text[provenance["start"] : provenance["end"]] == provenance["text"]
    page = report.outputs["html"].read_text(encoding="utf-8")
    assert (
        "vis.Network" in page
        and "Acme Robotics" in page
        and "https://" not in page.split("<script id")[0][-2000:]
    )


def test_rerun_skips_unchanged_and_updates_changed_and_deleted(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(keyword_ner_model)
    folder = corpus(tmp_path)
    first = build([folder], settings)
    written = {name: path.stat().st_mtime_ns for name, path in first.outputs.items()}
    again = build([folder], settings)
    assert (again.processed, again.skipped) == (0, 3)
    assert again.entities == first.entities
    # the same graph: its files are kept as written (kgbuild.graph.outputs)
    assert {name: path.stat().st_mtime_ns for name, path in again.outputs.items()} == written
    engine = make_engine(settings.resolved_ledger_url())

    def skipped_in() -> dict[str | None, str]:
        with Session(engine) as session:
            events = session.scalars(
                select(StageEventRow).where(StageEventRow.status == "skipped")
            ).all()
        assert len(events) == len({e.doc_id for e in events})  # one per document at most
        return {e.doc_id: e.run_id for e in events}

    assert skipped_in() == dict.fromkeys(["a.txt", "b.txt", "c.txt"], again.run_id)
    # change one document, delete another
    (folder / "b.txt").write_text("David Chen moved to Berlin.", encoding="utf-8")
    (folder / "c.txt").unlink()
    third = build([folder], settings)
    assert (third.processed, third.skipped, third.deleted) == (1, 1, 1)
    assert all(path.stat().st_mtime_ns > written[name] for name, path in third.outputs.items())
    found = entities(third.outputs["json"])
    assert "Omar Haddad" not in found and "Granite Capital" not in found  # only in the deleted doc
    assert found["Acme Robotics"]["doc_ids"] == ["a.txt"]  # still supported by a.txt
    assert found["Berlin"]["doc_ids"] == ["a.txt", "b.txt"]
    with Session(engine) as session:
        assert session.get(DocumentRow, "c.txt").status == "deleted"
        runs = session.scalars(select(RunRow).order_by(RunRow.started_at)).all()
        assert [r.status for r in runs] == ["succeeded"] * 3
        assert runs[-1].deleted == 1
        assert [r.skipped for r in runs] == [0, 3, 1]  # each run's count is kept in its row
    # a.txt's latest skip replaced its earlier one; b.txt and c.txt were last skipped before
    assert skipped_in() == {"a.txt": third.run_id, "b.txt": again.run_id, "c.txt": again.run_id}


def test_a_document_that_cannot_be_read_any_more_is_failed_not_deleted(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(keyword_ner_model)
    folder = corpus(tmp_path)
    first = build([folder], settings)
    assert "Omar Haddad" in entities(first.outputs["json"])
    # c.txt is still there but unreadable now (not UTF-8, no fallback)
    (folder / "c.txt").write_bytes(
        b"Omar Haddad works for Granite Capital in Lisb\xf3n \xff\xfe\x00."
    )
    broken = build([folder], settings)
    assert (broken.failed, broken.deleted, broken.skipped) == (1, 0, 2)
    assert "Omar Haddad" not in entities(broken.outputs["json"])  # its old facts are gone
    engine = make_engine(settings.resolved_ledger_url())
    with Session(engine) as session:
        row = session.get(DocumentRow, "c.txt")
        assert row.status == "failed" and row.error
        events = session.scalars(
            select(StageEventRow).where(StageEventRow.run_id == broken.run_id)
        ).all()
        assert {(e.doc_id, e.status) for e in events if e.doc_id == "c.txt"} == {
            ("c.txt", "failed")
        }
    (folder / "c.txt").write_text(DOCS["c.txt"], encoding="utf-8")  # mended
    mended = build([folder], settings)
    assert (mended.processed, mended.failed, mended.deleted) == (1, 0, 0)
    assert "Omar Haddad" in entities(mended.outputs["json"])


def test_a_build_with_the_context_veto_resolves_with_every_documents_sentences(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    # resolve.context_similarity crashed every build: the graph's resolution was not
    # given the sentences its veto reads (stored chunks, of skipped documents too)
    settings = settings_for(keyword_ner_model).model_copy(
        update={"resolve": ResolveConfig(context_similarity=True)}
    )
    folder = corpus(tmp_path)
    first = build([folder], settings)
    assert (first.processed, first.failed) == (3, 0)
    found = entities(first.outputs["json"])
    assert found["Acme Robotics"]["doc_ids"] == ["a.txt", "b.txt"]
    (folder / "c.txt").write_text("Omar Haddad moved to Berlin.", encoding="utf-8")
    again = build([folder], settings)  # a.txt and b.txt skipped: their stored sentences
    assert (again.processed, again.skipped, again.failed) == (1, 2, 0)
    assert entities(again.outputs["json"])["Berlin"]["doc_ids"] == ["a.txt", "c.txt"]


def test_an_output_folder_inside_the_input_is_not_read_back(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    folder = corpus(tmp_path)
    settings = settings_for(keyword_ner_model).model_copy(update={"out_dir": folder / "out"})
    first = build([folder], settings)
    assert first.outputs["html"].parent == folder / "out"
    again = build([folder], settings)  # graph.html is an .html file in the input folder now
    assert (again.documents, again.processed, again.skipped) == (3, 0, 3)
    data = json.loads(again.outputs["json"].read_text(encoding="utf-8"))
    assert sorted(n["id"] for n in data["nodes"] if n["kind"] == "document") == [
        "doc:a.txt",
        "doc:b.txt",
        "doc:c.txt",
    ]


def test_a_rerun_with_nothing_changed_keeps_the_graph_without_resolving(
    tmp_path, keyword_ner_model, settings_for, monkeypatch
) -> None:
    from kgbuild import pipeline
    from kgbuild.config import ResolveConfig

    resolved: list[str] = []
    real_assemble = pipeline.assemble

    def counted(settings, engine):  # type: ignore[no-untyped-def]
        resolved.append(str(settings.resolve.threshold))
        return real_assemble(settings, engine)

    monkeypatch.setattr(pipeline, "assemble", counted)
    settings = settings_for(keyword_ner_model)
    folder = corpus(tmp_path)
    first = build([folder], settings)
    again = build([folder], settings)
    assert resolved == ["90.0"]  # the second build read nothing that had changed
    totals = ("chunks", "mentions", "entities", "relations", "attributes", "merges")
    assert [getattr(again, t) for t in totals] == [getattr(first, t) for t in totals]
    assert again.outputs == first.outputs and again.entities > 0
    # other resolution settings, a deleted output or a changed document: resolved again
    build([folder], settings.model_copy(update={"resolve": ResolveConfig(threshold=95)}))
    assert resolved == ["90.0", "95.0"]
    build([folder], settings)
    assert resolved == ["90.0", "95.0", "90.0"]
    first.outputs["html"].unlink()
    build([folder], settings)
    assert resolved[-1] == "90.0" and len(resolved) == 4
    assert first.outputs["html"].is_file()
    (folder / "c.txt").write_text("Omar Haddad moved to Berlin.", encoding="utf-8")
    changed = build([folder], settings)
    assert len(resolved) == 5 and changed.processed == 1
    assert "Granite Capital" not in entities(changed.outputs["json"])
    build([folder], settings)
    assert len(resolved) == 5


def test_graph_html_pages_caps_the_pages_of_the_built_html(
    tmp_path, keyword_ner_model, settings_for, monkeypatch
) -> None:
    from kgbuild import pipeline
    from kgbuild.config import GraphConfig

    resolved: list[int] = []
    real_assemble = pipeline.assemble

    def counted(settings, engine):  # type: ignore[no-untyped-def]
        resolved.append(settings.graph.html_pages)
        return real_assemble(settings, engine)

    monkeypatch.setattr(pipeline, "assemble", counted)

    def paged(report) -> object:  # type: ignore[no-untyped-def]
        page = report.outputs["html"].read_text(encoding="utf-8")
        data = page.split('<script id="kg-data" type="application/json">')[1]
        return json.loads(data.split("</script>")[0]).get("paged")

    def files(report) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
        stats = {name: path.stat() for name, path in report.outputs.items()}
        return {name: (stat.st_ino, stat.st_mtime_ns) for name, stat in stats.items()}

    settings = settings_for(keyword_ner_model)
    folder = corpus(tmp_path)
    whole = build([folder], settings)
    written = files(whole)
    assert paged(whole) is None and whole.entities > 2
    capped = build([folder], settings.model_copy(update={"graph": GraphConfig(html_pages=2)}))
    assert paged(capped) == [2, whole.entities]
    # only graph.html depends on the cap: the other files are kept as written, and the
    # graph is not resolved again (graph.html is written from graph.json)
    now = files(capped)
    assert [name for name in now if now[name] != written[name]] == ["html"]
    assert resolved == [2_000]
    assert capped.entities == whole.entities and capped.outputs == whole.outputs


def test_what_a_build_is_built_from_reads_the_same_in_every_process(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    """Sets in the settings ("person_labels") iterate in another order in another process."""
    import os
    import subprocess
    import sys

    from kgbuild.graph.outputs import RECORD_NAME

    settings = settings_for(keyword_ner_model)
    build([corpus(tmp_path)], settings)
    recorded = json.loads((settings.out_dir / RECORD_NAME).read_text(encoding="utf-8"))
    code = (
        "import sys; from kgbuild.config import Settings; "
        "from kgbuild.pipeline import assembly_inputs; "
        "from kgbuild.store.sql.orm import make_engine; "
        "s = Settings(out_dir=sys.argv[1]); "
        "print(assembly_inputs(s, make_engine(s.resolved_ledger_url())))"
    )
    found = {
        subprocess.run(
            [sys.executable, "-c", code, str(settings.out_dir)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert found == {recorded["inputs"]}


def test_bad_documents_are_recorded_and_the_rest_is_built(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    folder = corpus(tmp_path)
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    settings = settings_for(keyword_ner_model)
    report = build([folder], settings)
    assert report.processed == 3
    assert sorted(Path(f.source).name for f in report.failures) == ["binary.txt", "empty.txt"]
    assert "failed: " in report.summary()
    engine = make_engine(settings.resolved_ledger_url())
    with Session(engine) as session:
        failed = session.scalars(
            select(StageEventRow).where(StageEventRow.status == "failed")
        ).all()
        assert len(failed) == 2 and all(e.error for e in failed)


def test_one_path_given_alone_is_one_input(
    tmp_path, keyword_ner_model, settings_for, monkeypatch
) -> None:
    corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = settings_for(keyword_ner_model)
    report = build("docs", settings)  # text, not a list: not the letters d, o, c, s
    assert (report.documents, report.processed, report.failed) == (3, 3, 0)
    report = build(Path("docs"), settings)
    assert (report.documents, report.skipped, report.failed) == (3, 3, 0)


def test_a_build_of_no_paths_is_refused_and_deletes_nothing(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    from kgbuild.errors import InputError

    folder = corpus(tmp_path)
    settings = settings_for(keyword_ner_model)
    build([folder], settings)
    with pytest.raises(InputError, match="no input paths given"):
        build([], settings)  # e.g. a glob.glob() that matched nothing
    report = build([folder], settings)
    assert (report.documents, report.skipped, report.deleted) == (3, 3, 0)


def test_a_path_that_is_not_there_leaves_no_output_folder(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    """A typo made the output folder and a ledger holding one failed run."""
    from kgbuild.errors import InputError

    settings = settings_for(keyword_ner_model)
    with pytest.raises(InputError, match=r"input path .*dcos does not exist"):
        build([tmp_path / "dcos"], settings)
    assert not settings.out_dir.exists()


def test_ten_thousand_word_document_yields_mentions_at_its_end(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    filler = "the company said on monday that it was a good year for its work in the city ."
    words = (filler + " ") * (10_000 // len(filler.split()) + 1)
    text = words + "Maria Gonzalez said that Acme Robotics was in Lisbon ."
    report = build([corpus(tmp_path, {"long.txt": text})], settings_for(keyword_ner_model))
    assert len(text.split()) > 10_000
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    ends = [p["end"] for e in data["edges"] for p in e.get("provenance", [])]
    assert max(ends) > len(text) - 20
    assert {"Maria Gonzalez", "Acme Robotics", "Lisbon"} <= set(entities(report.outputs["json"]))


def test_example_corpus_builds(tmp_path, keyword_ner_model, settings_for) -> None:
    corpus_dir = Path(__file__).resolve().parents[2] / "examples" / "corpus"
    shutil.copytree(corpus_dir, tmp_path / "corpus")
    report = build([tmp_path / "corpus"], settings_for(keyword_ner_model))
    assert report.documents >= 30 and report.failed == 0
    assert report.outputs["graphml"].stat().st_size > 0


def test_a_step_added_to_the_step_list_runs_in_the_build(
    tmp_path, keyword_ner_model, settings_for, monkeypatch
) -> None:
    from kgbuild import pipeline

    seen: list[tuple[str, int]] = []

    def count_entities(run: pipeline.BuildRun) -> None:
        assert run.assembled is not None  # it runs after the steps before it
        seen.append((run.run_id, len(run.assembled.resolution.entities)))

    steps = (*pipeline.BUILD_STEPS, pipeline.BuildStep("count-entities", count_entities))
    monkeypatch.setattr(pipeline, "BUILD_STEPS", steps)
    report = build([corpus(tmp_path)], settings_for(keyword_ner_model))
    assert seen == [(report.run_id, report.entities)]
    assert [s.name for s in steps[:4]] == ["plan", "extract", "resolve-and-export", "persist-neo4j"]


def test_file_names_with_control_characters_cannot_fake_summary_lines(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.")
    (folder / "x\n  failed: payroll.txt \x1b[2K.txt").write_text("Omar Haddad works for Helix.")
    report = build([folder], settings_for(keyword_ner_model))
    assert len(report.failures) == 1  # the name with control characters is refused as an id
    lines = report.summary().splitlines()
    # was: the raw name, a line "  failed: payroll.txt ..." of its own and the terminal's
    # erase-line sequence
    assert not any(line.startswith("  failed: payroll") for line in lines)
    assert "\x1b" not in report.summary()
    assert any(line.startswith("  failed: ") and "x\\n  failed: payroll" in line for line in lines)


def test_a_symmetric_relation_type_is_built_as_one_edge_from_the_smaller_id(
    tmp_path, keyword_ner_model, keyword_re_model
) -> None:
    from kgbuild.config import NerConfig, ReConfig, Settings
    from kgbuild.schema import load_schema

    docs = {
        "a.txt": "Maria Gonzalez works for Acme Robotics in Berlin .",
        "b.txt": "David Chen works for Helix in Nairobi .",
        "c.txt": "Omar Haddad works for Granite Capital in Toronto .",
    }
    folder = corpus(tmp_path, docs)

    def works_for(symmetric: bool) -> list[tuple[str, str, str]]:
        """The WORKS_FOR edges built (source, target, first evidence's head mention)."""
        business = load_schema("business")
        schema = business.model_copy(
            update={
                "relation_types": tuple(
                    r.model_copy(update={"symmetric": symmetric and r.name == "WORKS_FOR"})
                    for r in business.relation_types
                )
            }
        )
        schema_path = tmp_path / "schema.json"
        schema_path.write_text(json.dumps(schema.model_dump(mode="json")), encoding="utf-8")
        settings = Settings(
            out_dir=tmp_path / "out",
            ner=NerConfig(model=str(keyword_ner_model)),
            relations=ReConfig(enabled=True, model=str(keyword_re_model), threshold=0.0),
            schema_path=schema_path,
        )
        report = build([folder], settings, progress=False)
        data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
        return sorted(
            (e["source"], e["target"], e["provenance"][0]["head_mention"])
            for e in data["edges"]
            if e["type"] == "WORKS_FOR"
        )

    def mention_entities() -> dict[str, str]:
        """Mention id -> entity id, from the built graph's MENTIONED_IN provenance."""
        data = json.loads((tmp_path / "out" / "graph.json").read_text(encoding="utf-8"))
        return {
            p["mention_id"]: e["source"]
            for e in data["edges"]
            if e["type"] == "MENTIONED_IN"
            for p in e["provenance"]
        }

    directed = works_for(symmetric=False)
    assert len(directed) == 3
    # a type turned symmetric (the same documents built again): each edge from the smaller
    # id, its evidence's head mention the stored head's, at least one edge turned round
    stored = works_for(symmetric=True)
    mention_entity = mention_entities()
    assert all(source < target for source, target, _ in stored)
    assert all(mention_entity[head] == source for source, _, head in stored)
    assert {(min(s, t), max(s, t)) for s, t, _ in directed} == {(s, t) for s, t, _ in stored}
    assert any(source > target for source, target, _ in directed)


def test_a_build_records_the_schema_it_was_built_with_and_keeps_it_current(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    from kgbuild.schema import load_schema

    folder = corpus(tmp_path)
    settings = settings_for(keyword_ner_model)
    recorded = settings.out_dir / "schema.yaml"
    build([folder], settings, progress=False)  # no schema_path: the default
    assert load_schema(recorded) == load_schema(None)
    assert "wikidata.yaml" in recorded.read_text(encoding="utf-8").partition("\n")[0]
    # a schema of one's own, then edited where the graph does not change (kept as it was)
    own = tmp_path / "film.yaml"
    own.write_text(load_schema(None).model_dump_json(), encoding="utf-8")
    mine = settings.model_copy(update={"schema_path": own})
    build([folder], mine, progress=False)
    assert json.dumps(str(own)) in recorded.read_text(encoding="utf-8").partition("\n")[0]
    edited = load_schema(None).model_copy(update={"kinds": ("film",)})
    own.write_text(edited.model_dump_json(), encoding="utf-8")
    graph = (settings.out_dir / "graph.json").stat().st_mtime_ns
    report = build([folder], mine, progress=False)
    assert report.processed == 0
    assert (settings.out_dir / "graph.json").stat().st_mtime_ns == graph  # the graph kept
    assert load_schema(recorded) == edited
    # the record deleted: written again by the next build
    recorded.unlink()
    build([folder], mine, progress=False)
    assert load_schema(recorded) == edited


def test_batches_end_at_the_document_count_or_before_the_character_budget() -> None:
    from kgbuild.data import Document
    from kgbuild.pipeline import batches

    docs = [
        Document(id=f"d{i}", source=f"d{i}.txt", text="x" * n, content_hash=f"h{i}")
        for i, n in enumerate([3, 3, 3, 20, 3, 3])
    ]

    def ids(found: list[list[Document]]) -> list[list[str]]:
        return [[d.id for d in batch] for batch in found]

    assert ids(batches(docs, 2)) == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"]]
    # 20 characters is past the budget of 10: alone; 3 + 3 + 3 fits, a fourth would not
    assert ids(batches(docs, 64, max_chars=10)) == [["d0", "d1", "d2"], ["d3"], ["d4", "d5"]]
    assert ids(batches(docs[:1], 64, max_chars=1)) == [["d0"]]
    assert batches([], 4, max_chars=10) == []
    with pytest.raises(ValueError, match="at least 1 document"):
        batches(docs, 0)
