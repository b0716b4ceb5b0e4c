"""The build flow: ingest -> chunk -> NER -> resolve -> export, over batches of documents.

Tasks take and return plain data (settings, documents, counts); models and database
engines are created inside the tasks through per-process caches, never passed as
arguments. Only transient errors are retried.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from kgbuild import pipeline
from kgbuild.config import Settings
from kgbuild.data import Document
from kgbuild.pipeline import BuildReport, DocumentOutcome, Plan
from kgbuild.store.sql.orm import make_engine

__all__ = ["build_kg_flow", "is_transient"]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # e.g. "database is locked"
    ConnectionError,  # includes kgbuild's Neo4jUnavailableError
    TimeoutError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)


def is_transient(exc: BaseException | None) -> bool:
    """True for errors worth retrying: lost connections, time-outs, a locked database."""
    return isinstance(exc, TRANSIENT_ERRORS)


def retry_transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only transient failures."""
    try:
        state.result()
    except BaseException as exc:
        return is_transient(exc)
    return False


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


@task(
    name="plan",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def plan_task(paths: list[str], settings: Settings, run_id: str) -> Plan:
    """Read the input and decide, from the ledger, which documents need model work."""
    ingested = pipeline.read_documents(paths, settings.ingest)
    stages = pipeline.extractor(settings, run_id)
    return pipeline.plan(
        ingested, _engine(settings.resolved_ledger_url()), run_id=run_id, model_key=stages.model_key
    )


@task(
    name="extract-batch",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def extract_task(
    documents: list[Document], settings: Settings, run_id: str, model_key: str
) -> list[DocumentOutcome]:
    """Chunk and run NER over one batch of documents and record the results in the ledger."""
    outcomes = pipeline.extract(documents, pipeline.extractor(settings, run_id))
    pipeline.record(_engine(settings.resolved_ledger_url()), run_id, model_key, outcomes)
    return outcomes


@task(
    name="resolve-and-export",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def assemble_task(settings: Settings) -> tuple[pipeline.Assembled, dict[str, Path]]:
    """Resolve every current document's mentions into the graph and write the outputs."""
    assembled = pipeline.assemble(settings, _engine(settings.resolved_ledger_url()))
    return assembled, pipeline.export(assembled.graph, settings.out_dir)


@task(
    name="persist-neo4j",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def persist_task(settings: Settings, run_id: str, assembled: pipeline.Assembled) -> str | None:
    """Bring Neo4j in line with the current documents (idempotent, so safe to retry)."""
    return pipeline.persist_neo4j(
        settings, _engine(settings.resolved_ledger_url()), run_id, assembled
    )


@flow(name="build-kg", log_prints=True)
def build_kg_flow(paths: Sequence[str], settings: Settings | None = None) -> BuildReport:
    """Build the knowledge graph from ``paths`` (see :func:`kgbuild.pipeline.build`)."""
    settings = settings or Settings()
    started = time.perf_counter()
    run_id = pipeline.new_run_id()
    engine = _engine(settings.resolved_ledger_url())
    try:
        todo = plan_task(list(paths), settings, run_id)
        report = pipeline.start_report(todo)
        for batch in pipeline.batches(todo.to_process, settings.docs_per_batch):
            pipeline.add_outcomes(report, extract_task(batch, settings, run_id, todo.model_key))
        assembled, report.outputs = assemble_task(settings)
        report.neo4j = persist_task(settings, run_id, assembled)
        report = pipeline.finish(engine, report, assembled, started)
    except BaseException as exc:
        pipeline.fail(engine, run_id, exc)
        raise
    print(report.summary())
    return report


if __name__ == "__main__":  # pragma: no cover
    import sys

    build_kg_flow(sys.argv[1:] or ["examples/corpus"])
