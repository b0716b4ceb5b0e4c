"""The build flow under real Prefect (the test harness's server): end to end, re-runs,
transient and permanent failures, and the batch cache."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kgbuild import pipeline
from kgbuild.config import OrchestrationConfig, Settings
from kgbuild.store.sql.orm import DocumentRow, ResultRow, make_engine

from .conftest import runs

pytestmark = pytest.mark.prefect


def result_runs(settings: Settings) -> dict[str, str]:
    """Document id -> the run that computed its stored result (the run that did model work)."""
    engine = make_engine(settings.resolved_ledger_url())
    try:
        with Session(engine) as session:
            return {row.doc_id: row.run_id for row in session.scalars(select(ResultRow))}
    finally:
        engine.dispose()


def test_flow_end_to_end_then_reruns_do_model_work_only_for_changed_documents(
    prefect_harness: None, corpus: Path, keyword_ner_model: Path, settings_for
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from kgbuild_flows.artifacts import SUMMARY_KEY
    from kgbuild_flows.build_kg import build_kg_flow

    settings = settings_for(keyword_ner_model).model_copy(update={"docs_per_batch": 8})
    first = build_kg_flow([str(corpus)], settings)
    assert (first.documents, first.processed, first.failed) == (30, 30, 0)
    assert first.entities > 0 and first.outputs["json"].is_file()
    done = result_runs(settings)
    assert len(done) == 30 and set(done.values()) == {first.run_id}

    again = build_kg_flow([str(corpus)], settings)
    assert (again.processed, again.skipped, again.entities) == (0, 30, first.entities)
    assert result_runs(settings) == done  # no document has a result from the second run

    (corpus / "001_acme_founding.txt").write_text(
        "Maria Gonzalez moved Acme Robotics to Lisbon.", encoding="utf-8"
    )
    (corpus / "new.txt").write_text("Omar Haddad joined Helix in Nairobi.", encoding="utf-8")
    third = build_kg_flow([str(corpus)], settings)
    assert (third.processed, third.skipped) == (2, 29)
    redone = {doc for doc, run in result_runs(settings).items() if run == third.run_id}
    assert redone == {"001_acme_founding.txt", "new.txt"}

    ledger = runs(settings)
    assert [r.status for r in ledger] == ["succeeded"] * 3
    assert [(r.processed, r.skipped) for r in ledger] == [(30, 0), (0, 30), (2, 29)]

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_KEY]))
        )
    summaries = [str(a.data) for a in artifacts]
    assert any(
        third.run_id in text and "| processed (model work) | 2 |" in text for text in summaries
    )


class _RetryWatch(logging.Handler):
    """Releases the ledger lock when Prefect logs that a task run will be retried."""

    def __init__(self, lock: sqlite3.Connection) -> None:
        super().__init__()
        self.ledger_lock = lock
        self.retries: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Retry 1/" in message:
            self.retries.append(message)
            self.ledger_lock.rollback()


def test_each_run_builds_its_model_stages_once_for_all_its_batches(
    prefect_harness: None,
    corpus: Path,
    keyword_ner_model: Path,
    settings_for,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kgbuild_flows.build_kg import build_kg_flow

    built: list[str] = []
    build_stages = pipeline.extractor

    def counted(settings: Settings, run_id: str, **kwargs: bool) -> pipeline.Extractor:
        built.append(run_id)
        return build_stages(settings, run_id, **kwargs)

    monkeypatch.setattr(pipeline, "extractor", counted)
    settings = settings_for(keyword_ner_model).model_copy(update={"docs_per_batch": 8})
    first = build_kg_flow([str(corpus)], settings)
    assert first.processed == 30  # four batches
    (corpus / "new.txt").write_text("Omar Haddad joined Helix in Nairobi.", encoding="utf-8")
    second = build_kg_flow([str(corpus)], settings)
    assert second.processed == 1
    # The flow builds the stages once to plan (their model key), each task's run once more.
    assert built.count(first.run_id) == 2 and built.count(second.run_id) == 2
    assert len(built) == 4


@pytest.fixture
def retry_watch() -> Iterator[list[_RetryWatch]]:
    watches: list[_RetryWatch] = []
    yield watches
    for watch in watches:
        logging.getLogger("prefect.task_runs").removeHandler(watch)


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.", "utf-8")
    (folder / "b.txt").write_text("David Chen works for Granite Capital in Berlin.", "utf-8")
    return folder


def test_a_transient_error_is_retried_and_the_run_completes(
    prefect_harness: None,
    tmp_path: Path,
    keyword_ner_model: Path,
    settings_for,
    retry_watch: list[_RetryWatch],
) -> None:
    """A real transient error: another connection holds the SQLite ledger's write lock."""
    from kgbuild_flows.build_kg import build_kg_flow

    settings = settings_for(keyword_ner_model)
    make_engine(settings.resolved_ledger_url()).dispose()  # the ledger's tables exist
    lock = sqlite3.connect(settings.out_dir / "ledger.sqlite", check_same_thread=False)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")  # readers may read; no other writer until released
    watch = _RetryWatch(lock)
    retry_watch.append(watch)
    logging.getLogger("prefect.task_runs").addHandler(watch)
    try:
        report = build_kg_flow([str(write_docs(tmp_path / "docs"))], settings)
    finally:
        lock.close()

    assert len(watch.retries) == 1 and "database is locked" in watch.retries[0]
    assert (report.processed, report.failed) == (2, 0)
    assert [(r.status, r.processed) for r in runs(settings)] == [("succeeded", 2)]


def test_a_plan_step_retried_after_a_transient_error_starts_its_run_once(
    prefect_harness: None,
    tmp_path: Path,
    keyword_ner_model: Path,
    settings_for,
    retry_watch: list[_RetryWatch],
) -> None:
    """The ledger is locked once the plan step has started its run, before it records more.

    The retried step used to find its own run started: it marked it abandoned, then failed
    on inserting it again (UNIQUE constraint failed: runs.id).
    """
    from sqlalchemy import event

    from kgbuild_flows.build_kg import _engine, build_kg_flow

    settings = settings_for(keyword_ner_model)
    docs = write_docs(tmp_path / "docs")
    (docs / "empty.txt").write_text("", "utf-8")  # recorded as failed by the plan step
    engine = _engine(settings.resolved_ledger_url())  # the flow's engine: tables exist
    lock = sqlite3.connect(settings.out_dir / "ledger.sqlite", check_same_thread=False)
    lock.isolation_level = None
    watch = _RetryWatch(lock)
    retry_watch.append(watch)
    logging.getLogger("prefect.task_runs").addHandler(watch)

    def lock_after_first_commit(session: Session) -> None:
        if session.get_bind() is engine and not lock.in_transaction and not watch.retries:
            lock.execute("BEGIN IMMEDIATE")  # the run's start is committed, nothing after

    event.listen(Session, "after_commit", lock_after_first_commit)
    try:
        report = build_kg_flow([str(docs)], settings)
    finally:
        event.remove(Session, "after_commit", lock_after_first_commit)
        lock.close()

    assert len(watch.retries) == 1 and "database is locked" in watch.retries[0]
    assert (report.processed, report.failed) == (2, 1)
    (run,) = runs(settings)
    assert (run.id, run.status, run.processed, run.failed) == (report.run_id, "succeeded", 2, 1)


def test_a_permanent_error_fails_the_run_clearly_and_writes_nothing(
    prefect_harness: None,
    tmp_path: Path,
    settings_for,
    retry_watch: list[_RetryWatch],
) -> None:
    from kgbuild_flows.build_kg import build_kg_flow

    missing = tmp_path / "no-such-model"
    settings = settings_for(missing)
    watch = _RetryWatch(sqlite3.connect(":memory:"))
    retry_watch.append(watch)
    logging.getLogger("prefect.task_runs").addHandler(watch)

    state = build_kg_flow([str(write_docs(tmp_path / "docs"))], settings, return_state=True)

    assert state.is_failed()
    with pytest.raises(Exception, match="no-such-model") as raised:
        state.result()
    assert type(raised.value).__name__ == "ModelLoadError"
    assert watch.retries == []  # a permanent error is not retried
    (run,) = runs(settings)
    assert run.status == "failed" and run.error and "no-such-model" in run.error
    engine = make_engine(settings.resolved_ledger_url())
    with Session(engine) as session:
        assert session.scalars(select(DocumentRow)).all() == []
        assert session.scalars(select(ResultRow)).all() == []
    engine.dispose()
    assert sorted(p.name for p in settings.out_dir.iterdir()) == ["ledger.sqlite"]


def test_a_finished_batch_is_cached_on_documents_models_and_stage_config(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    from prefect import flow

    from kgbuild_flows.build_kg import extract_task
    from kgbuild_flows.caching import batch_key

    settings = settings_for(keyword_ner_model)
    docs = pipeline.read_documents([write_docs(tmp_path / "docs")], settings.ingest).documents
    model_key = pipeline.extractor(settings, "test").model_key

    @flow
    def extract_twice(settings: Settings) -> list[str]:
        states = [
            extract_task(docs, settings, f"run{i}", model_key, return_state=True) for i in (1, 2)
        ]
        return [state.name for state in states]

    assert extract_twice(settings) == ["Completed", "Cached"]
    no_cache = settings.model_copy(update={"orchestration": OrchestrationConfig(cache_days=0)})
    assert extract_twice(no_cache) == ["Completed", "Completed"]

    key = batch_key(docs, settings, model_key)
    edited = [docs[0].model_copy(update={"content_hash": "0" * 64}), docs[1]]
    threshold = settings.ner.model_copy(update={"threshold": 0.9})
    assert batch_key(docs, settings, model_key) == key
    assert batch_key(edited, settings, model_key) != key
    assert batch_key(docs, settings, model_key + "|other-model") != key
    assert batch_key(docs, settings.model_copy(update={"ner": threshold}), model_key) != key
    batch_size = settings.ner.model_copy(update={"batch_size": 7})
    assert batch_key(docs, settings.model_copy(update={"ner": batch_size}), model_key) == key


def test_a_batch_with_a_failed_document_is_not_cached_and_is_tried_again(
    prefect_harness: None, keyword_ner_model: Path, settings_for
) -> None:
    """A document can fail for a cause the cache key does not hold (a model put in place
    since, memory). Such a batch used to come back from the cache, failed, for 7 days; a
    build without Prefect tried the documents again. A batch without failures is cached."""
    from prefect import flow

    from kgbuild.data import Document
    from kgbuild.ids import content_hash
    from kgbuild.pipeline import extractor
    from kgbuild_flows.build_kg import _whole, extract_task

    settings = settings_for(keyword_ner_model)
    model_key = extractor(settings, "r1").model_key

    def batch(doc_id: str, text: str) -> list[Document]:
        hashed = content_hash(text)
        text = text.replace("{}", "\ud800")  # kept out of the flow's parameters and the hash
        return [Document(id=doc_id, text=text, source=doc_id, content_hash=hashed, lang="en")]

    @flow
    def twice(doc_id: str, text: str) -> tuple[Any, Any]:
        documents = _whole(batch(doc_id, text))  # as the build flow passes a batch
        first = extract_task(documents, settings, "r1", model_key, return_state=True)
        again = extract_task(documents, settings, "r1", model_key, return_state=True)
        return first, again

    # a lone surrogate (never let in by ingest) makes the tokenizer fail this document
    failed, again = twice("bad.txt", "Omar Haddad works for Helix {} in Lisbon.")
    (outcome,) = failed.result()
    (retried,) = again.result()
    assert outcome.failure is not None and retried.failure is not None
    assert again.name != "Cached"  # computed again
    good, cached = twice("good.txt", "Maria Gonzalez founded Acme Robotics in Toronto.")
    (outcome,) = good.result()
    assert outcome.failure is None and cached.name == "Cached"


def test_prefect_stores_only_the_batches_as_json_and_a_rebuild_reads_them_back(
    prefect_harness: None,
    corpus: Path,
    keyword_ner_model: Path,
    settings_for,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each batch was stored as a cloudpickle (code run when the cache loads it back); with
    Prefect's ``PREFECT_RESULTS_PERSIST_BY_DEFAULT`` on, every other task's result and the
    flow's report were pickled too, though the ledger and the output files hold them."""
    from prefect.settings import (
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        PREFECT_RESULTS_PERSIST_BY_DEFAULT,
        temporary_settings,
    )

    from kgbuild_flows.build_kg import build_kg_flow

    extracted: list[int] = []
    extract = pipeline.extract

    def counted(documents: list[Any], stages: Any) -> Any:
        extracted.append(len(documents))
        return extract(documents, stages)

    monkeypatch.setattr(pipeline, "extract", counted)
    storage = tmp_path / "prefect-results"
    settings = settings_for(keyword_ner_model).model_copy(update={"docs_per_batch": 8})
    everything = {
        PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage,
        PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
    }
    with temporary_settings(updates=everything):
        first = build_kg_flow([str(corpus)], settings)
        stored = {path.name: path.read_bytes() for path in storage.iterdir()}
        graph = (settings.out_dir / "graph.json").read_bytes()
        (settings.out_dir / "ledger.sqlite").unlink()  # every document to extract again
        again = build_kg_flow([str(corpus)], settings)

    assert extracted == [8, 8, 8, 6]  # the second run read all four batches from the cache
    assert len(stored) == 4 and all(name.startswith("kgbuild-extract-") for name in stored)
    for record in stored.values():
        serializer = json.loads(record)["metadata"]["serializer"]
        assert serializer["type"] == "compressed", serializer
        assert serializer["serializer"]["type"] == "json" and serializer["compressionlib"] == "zlib"
    assert {path.name: path.read_bytes() for path in storage.iterdir()} == stored
    assert (again.processed, again.failed) == (first.processed, first.failed) == (30, 0)
    assert (again.mentions, again.entities) == (first.mentions, first.entities)
    assert (settings.out_dir / "graph.json").read_bytes() == graph  # nothing twice, nothing lost
    assert len(result_runs(settings)) == 30


def test_the_latest_failures_artifact_is_the_latest_runs(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """A run without failures published no failures table, so the key's latest version
    (what the Prefect UI shows for it) still listed the failures of an earlier run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    from kgbuild_flows.artifacts import FAILURES_KEY
    from kgbuild_flows.build_kg import build_kg_flow

    settings = settings_for(keyword_ner_model)
    docs = write_docs(tmp_path / "docs")
    (docs / "empty.txt").write_text("", encoding="utf-8")
    first = build_kg_flow([str(docs)], settings)
    assert [Path(f.source).name for f in first.failures] == ["empty.txt"]
    (docs / "empty.txt").write_text("Omar Haddad joined Helix in Nairobi.", encoding="utf-8")
    second = build_kg_flow([str(docs)], settings)
    assert (second.processed, second.failed) == (1, 0)

    with get_client(sync_client=True) as client:
        (latest,) = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[FAILURES_KEY])
            )
        )
    assert latest.description is not None and second.run_id in latest.description
    assert "empty.txt" not in str(latest.data)


def test_a_build_after_the_output_folder_was_removed_starts_a_new_ledger(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """In one process (a notebook, a script), as ``kgbuild.build`` does. The flow kept the
    first run's engine for the ledger's URL, whose connections still pointed at the removed
    file: ``attempt to write a readonly database``."""
    import shutil

    from kgbuild_flows.build_kg import build_kg_flow

    settings = settings_for(keyword_ner_model)
    docs = write_docs(tmp_path / "docs")
    first = build_kg_flow([str(docs)], settings)
    assert first.processed == 2
    shutil.rmtree(settings.out_dir)
    again = build_kg_flow([str(docs)], settings)
    assert (again.processed, again.skipped, again.failed) == (2, 0, 0)
    assert [(r.id, r.status) for r in runs(settings)] == [(again.run_id, "succeeded")]


def test_the_flow_holds_the_output_lock(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    from kgbuild.runlock import LOCK_NAME, OutputLockedError
    from kgbuild_flows.build_kg import build_kg_flow
    from tests.unit.test_runlock import hold_lock

    settings = settings_for(keyword_ner_model)
    docs = write_docs(tmp_path / "docs")
    holder = hold_lock(settings.out_dir)
    try:
        with pytest.raises(OutputLockedError, match=f"pid {holder.pid} on host"):
            build_kg_flow([str(docs)], settings)
        assert sorted(p.name for p in settings.out_dir.iterdir()) == [LOCK_NAME]  # no ledger
    finally:
        holder.kill()
        holder.wait(timeout=30)
    report = build_kg_flow([str(docs)], settings)  # the killed holder's lock is stale
    assert report.processed == 2
    assert not (settings.out_dir / LOCK_NAME).exists()


def test_a_flow_stopped_by_sigterm_is_recorded_as_interrupted(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """`kgbuild build --engine prefect` in its own process, on the harness's Prefect server."""
    import signal

    from prefect.settings import PREFECT_API_URL

    from kgbuild.runlock import LOCK_NAME
    from kgbuild_flows.build_kg import build_kg_flow
    from tests.processes import BuildProcess, long_corpus

    settings = settings_for(keyword_ner_model)
    docs = long_corpus(tmp_path / "docs", sentences=1200)
    out, model = str(settings.out_dir), str(keyword_ner_model)
    process = BuildProcess(
        ["build", str(docs), "--engine", "prefect", "--out", out, "--model", model],
        env={"PREFECT_API_URL": str(PREFECT_API_URL.value()), "KGBUILD_NER__BATCH_SIZE": "2"},
    )
    try:
        process.wait_for("ner: 10%")
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 128 + signal.SIGTERM, process.output
    finally:
        process.stop()
    (run,) = runs(settings)
    assert (run.status, run.pid) == ("interrupted", process.pid)
    assert run.error is not None and "TerminationSignal" in run.error
    assert not (settings.out_dir / LOCK_NAME).exists()
    report = build_kg_flow([str(docs)], settings)
    assert (report.processed, report.failed) == (1, 0)
    assert [r.status for r in runs(settings)] == ["interrupted", "succeeded"]


def test_a_ledger_that_becomes_unavailable_mid_run_is_one_error_line(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """The SQLite ledger is locked by another writer while the flow extracts its batch.

    `kgbuild build --engine prefect` ended with a SQLAlchemy traceback and exit status 1
    (the plain runner says the ledger cannot be reached or written, and exits 2):
    recording the run's end failed too, and that error replaced the one that stopped it.
    """
    from prefect.settings import PREFECT_API_URL

    from kgbuild.runlock import LOCK_NAME
    from tests.processes import BuildProcess, long_corpus

    settings = settings_for(keyword_ner_model)
    docs = long_corpus(tmp_path / "docs", sentences=1200)
    out, model = str(settings.out_dir), str(keyword_ner_model)
    process = BuildProcess(
        ["build", str(docs), "--engine", "prefect", "--out", out, "--model", model],
        env={
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "KGBUILD_NER__BATCH_SIZE": "2",
            "KGBUILD_ORCHESTRATION__RETRIES": "0",
        },
    )
    try:
        process.wait_for("ner: 10%")  # the run is started in the ledger, its batch not recorded
        lock = sqlite3.connect(settings.out_dir / "ledger.sqlite", check_same_thread=False)
        lock.isolation_level = None
        try:
            lock.execute("BEGIN IMMEDIATE")  # no other writer until released
            assert process.finish() == 2, process.output
        finally:
            lock.close()
    finally:
        process.stop()
    # Prefect logs the failed task and flow with their tracebacks; the command ends on its line
    assert process.lines[-1].startswith("error: the run ledger"), process.output
    assert f"error: the run ledger 'sqlite:///{out}/ledger.sqlite' cannot be reached or " in (
        process.output
    )
    assert "(database is locked)" in process.output
    assert "its end could not be recorded in the ledger (database is locked)" in process.output
    assert not (settings.out_dir / LOCK_NAME).exists()


def test_a_step_added_to_the_step_list_runs_in_the_flow_as_a_task(
    prefect_harness: None, corpus: Path, keyword_ner_model: Path, settings_for, monkeypatch
) -> None:
    from prefect.context import get_run_context

    from kgbuild_flows.build_kg import build_kg_flow

    seen: list[tuple[str, str, int]] = []

    def count_entities(run: pipeline.BuildRun) -> None:
        assert run.assembled is not None  # it runs after the steps before it
        task_name = get_run_context().task_run.name  # type: ignore[union-attr]
        seen.append(
            (task_name.rsplit("-", 1)[0], run.run_id, len(run.assembled.resolution.entities))
        )

    steps = (*pipeline.BUILD_STEPS, pipeline.BuildStep("count-entities", count_entities))
    monkeypatch.setattr(pipeline, "BUILD_STEPS", steps)
    report = build_kg_flow([str(corpus)], settings_for(keyword_ner_model))
    assert seen == [("count-entities", report.run_id, report.entities)]


def test_quiet_quiets_prefect_too(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """`kgbuild -q build --engine prefect` logged every flow and task run at INFO."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    settings = settings_for(keyword_ner_model)
    args = ["build", str(write_docs(tmp_path / "docs")), "--engine", "prefect"]
    args += ["--out", str(settings.out_dir), "--model", str(keyword_ner_model)]
    done = subprocess.run(
        [sys.executable, "-m", "kgbuild", "-q", *args],
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2 documents (2 processed" in done.stdout
    assert " INFO " not in done.stderr, done.stderr


def test_the_flow_keeps_each_documents_key_of_its_language_models(
    prefect_harness: None, tmp_path: Path, settings_for
) -> None:
    from kgbuild_flows.build_kg import build_kg_flow
    from tests.unit.stages.test_ner_languages import models
    from tests.unit.test_language_gate import corpus as english_and_chinese

    main, chinese = models(tmp_path, ["zh"])
    docs = english_and_chinese(tmp_path)
    routed = settings_for(main, language_models={"zh": str(chinese)})
    first = build_kg_flow([str(docs)], routed)
    assert (first.processed, first.failed, first.language_skips) == (2, 0, {})
    again = build_kg_flow([str(docs)], routed)
    assert (again.processed, again.skipped) == (0, 2)
    # en.txt was recorded without the Chinese model in its key: only zh.txt is read again
    alone = build_kg_flow([str(docs)], settings_for(main, language_models={}))
    assert (alone.processed, alone.skipped) == (1, 1)
    assert result_runs(settings_for(main))["zh.txt"] == alone.run_id
