"""The build flow: the steps of :data:`kgbuild.pipeline.BUILD_STEPS`, each a Prefect task.

Each step becomes a task of its name, with its retry delays, that runs in the flow's
process over the run's :class:`~kgbuild.pipeline.BuildRun`. The ``extract`` step runs as
one task per batch instead: those take and return plain, picklable data (settings,
documents, outcomes); models are created inside them through per-process caches, never
passed as arguments. Only transient errors are retried. Model work runs in the
flow's process (``orchestration.task_runner: thread``) or on a Dask cluster (``dask``);
ledger writes always happen in the flow's process, one batch per transaction, in batch
order, so the graph does not depend on which worker finished first.

Prefect stores the extract tasks' results only, as compressed JSON, for the batch cache
(:mod:`kgbuild_flows.caching`). Whatever ``PREFECT_RESULTS_PERSIST_BY_DEFAULT`` says, the
other tasks and the flow store none: their work is in the ledger and the output files.
A successful run removes its build's cached batches that no later run can read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.filesystems import LocalFileSystem
from prefect.results import get_default_result_storage
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)
from prefect.settings.legacy import Setting
from prefect.transactions import get_transaction
from prefect.utilities.annotations import quote
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from kgbuild import pipeline
from kgbuild.collection import fewer_collections
from kgbuild.config import OrchestrationConfig, Settings, load_settings
from kgbuild.data import Document, DocumentResult
from kgbuild.extraction import Extractor
from kgbuild.interrupts import is_interruption, sigterm_raises
from kgbuild.pipeline import BuildReport, BuildRun, BuildStep, Plan
from kgbuild.runlock import output_lock
from kgbuild.store.sql.orm import LedgerUnavailableError, make_engine
from kgbuild_flows.artifacts import publish_report
from kgbuild_flows.caching import (
    BATCH_SERIALIZER,
    batch_cache_key,
    current_batch_keys,
    prune_batch_cache,
)
from kgbuild_flows.server import check_server

__all__ = ["BatchSummary", "build_kg_flow", "is_transient", "local_run_settings", "run_build_flow"]

P = ParamSpec("P")
R = TypeVar("R")

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


def _whole(value: R) -> R:
    """``value`` passed to a task without Prefect walking into it.

    Prefect visits every element of a task's arguments twice per call (to find upstream
    futures and to record task inputs); over a batch's documents or mentions that cost
    more than a third of the flow's time. ``quote`` skips the walk, and Prefect unwraps
    it before the task body runs, so the body sees ``value`` itself (hence the type).
    """
    return cast(R, quote(value))


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(url: str) -> Engine:
    """The ledger's engine for the run in progress (its tasks share it).

    Made by the run and disposed when it ends (:func:`_release_engine`), as
    :func:`kgbuild.pipeline.build` does: an engine kept from an earlier run of this process
    pointed at a ledger file that may have been removed since.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = make_engine(url)
    return engine


def _release_engine(url: str) -> None:
    """Dispose of the ledger's engine at the end of a run."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


@dataclass(frozen=True)
class BatchSummary:
    """What recording one batch did (small: counts and failed sources)."""

    documents: int
    processed: int
    mentions: int
    failed_sources: tuple[str, ...]

    @classmethod
    def of(cls, outcomes: Sequence[DocumentResult]) -> BatchSummary:
        """Count a batch's outcomes."""
        failed = tuple(o.document.source for o in outcomes if o.failure is not None)
        return cls(
            documents=len(outcomes),
            processed=len(outcomes) - len(failed),
            mentions=sum(len(o.mentions) for o in outcomes),
            failed_sources=failed,
        )


@task(
    name="extract-batch",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_key_fn=batch_cache_key,
    cache_expiration=timedelta(days=7),
    persist_result=True,  # for the cache only: the ledger keeps what the run needs
    result_serializer=BATCH_SERIALIZER,
)
def extract_task(
    documents: list[Document],
    settings: Settings,
    run_id: str,
    model_key: str,
    progress: bool = False,
) -> list[DocumentResult]:
    """Chunk, NER (and relations, attributes) over one batch, wherever the task runner says.

    Cached on the batch's documents, model versions and stage settings (see
    :func:`kgbuild_flows.caching.batch_key`), so a retried flow reuses finished batches; a
    batch with a failed document is not cached (see :func:`_not_cached`). With
    ``progress``, the model stages report their progress over a long batch.
    """
    stages = _extractor(settings, run_id, progress)
    if stages.model_key != model_key:
        raise RuntimeError(
            f"this worker's models differ from the run's: {stages.model_key} != {model_key}"
        )
    outcomes = pipeline.extract(documents, stages)
    if any(outcome.failure is not None for outcome in outcomes):
        _not_cached()
    return outcomes


def _not_cached() -> None:
    """Keep the running task's result out of the cache (it is still returned).

    A document can fail for a cause the cache key does not hold (a model put in place
    since, memory): the next run tries it again, as a build without Prefect does.
    """
    transaction = get_transaction()
    if transaction is not None:
        transaction.write_on_commit = False


_EXTRACTORS: dict[tuple[str, str, bool, int], Extractor] = {}
_EXTRACTORS_LOCK = threading.Lock()


def _extractor(settings: Settings, run_id: str, progress: bool) -> Extractor:
    """The run's model stages, built once per run in each process and thread.

    Every batch of a run needs the same stages; building them again for each batch (stage
    factories, schema, model lookups, though the models themselves are cached) took 11-22
    ms of the flow's own ~80 ms per batch. Only the latest run's are kept.
    """
    key = (settings.model_dump_json(), run_id, progress, threading.get_ident())
    stages = _EXTRACTORS.get(key)
    if stages is None:
        stages = pipeline.extractor(settings, run_id, progress=progress)
        with _EXTRACTORS_LOCK:
            for old in [k for k in _EXTRACTORS if k[1] != run_id]:
                del _EXTRACTORS[old]
            _EXTRACTORS[key] = stages
    return stages


@task(
    name="record-batch",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    persist_result=False,  # what it records is in the ledger
)
def record_task(
    settings: Settings, run_id: str, model_key: str, outcomes: list[DocumentResult]
) -> BatchSummary:
    """Store one batch's results in the ledger (one transaction, in the flow's process)."""
    pipeline.record(_engine(settings.resolved_ledger_url()), run_id, model_key, outcomes)
    return BatchSummary.of(outcomes)


@cache
def _step_task(step: BuildStep) -> Task[[BuildRun], None]:
    """``step`` as a task of its name that retries transient failures after its delays."""
    return task(
        name=step.name,
        retries=len(step.retry_delays),
        retry_delay_seconds=list(step.retry_delays),
        retry_condition_fn=retry_transient,
        cache_policy=NO_CACHE,
        persist_result=False,  # a step's work is in the ledger, the outputs or Neo4j
    )(step.run)


def _configured(task_: Task[P, R], config: OrchestrationConfig) -> Task[P, R]:
    """``task_`` with the retries and cache lifetime of ``config``."""
    if task_.cache_expiration is not None:
        return task_.with_options(
            retries=config.retries, cache_expiration=timedelta(days=config.cache_days)
        )
    return task_.with_options(retries=config.retries)


def _extract_batches(run: BuildRun) -> None:
    """The ``extract`` step: each batch extracted by a task, then recorded in batch order."""
    logger = get_run_logger()
    todo, report = run.planned()
    record = _configured(record_task, run.settings.orchestration)
    batches = _extracted_batches(todo, run.settings, run.run_id, run.progress)
    for number, outcomes in enumerate(batches, 1):
        summary = record(run.settings, run.run_id, todo.model_key, _whole(outcomes))
        pipeline.add_outcomes(report, outcomes)
        logger.info(
            "batch %d: %d documents, %d mentions, %d failed %s",
            number,
            summary.documents,
            summary.mentions,
            len(summary.failed_sources),
            list(summary.failed_sources) or "",
        )


def _extracted_batches(
    todo: Plan, settings: Settings, run_id: str, progress: bool
) -> Iterator[list[DocumentResult]]:
    """Each batch's outcomes, in batch order, computed by the configured task runner."""
    config = settings.orchestration
    extract = _configured(extract_task, config)
    batches = pipeline.batches(todo.to_process, settings.docs_per_batch, settings.batch_chars)
    if config.task_runner == "thread" or not batches:
        for batch in batches:
            yield extract(_whole(batch), settings, run_id, todo.model_key, progress)
        return
    from kgbuild_flows.runners import dask_task_runner

    with dask_task_runner(config) as runner:
        futures = [
            runner.submit(
                extract,
                {
                    "documents": batch,  # Dask ships arguments as tuples: no quote
                    "settings": settings,
                    "run_id": run_id,
                    "model_key": todo.model_key,
                    "progress": progress,
                },
            )
            for batch in batches
        ]
        for future in futures:
            yield future.result()


@flow(name="build-kg", log_prints=True, persist_result=False)  # the report: an artifact
def build_kg_flow(
    paths: Sequence[str], settings: Settings | None = None, progress: bool = False
) -> BuildReport:
    """Build the knowledge graph from ``paths`` (see :func:`kgbuild.pipeline.build`).

    Holds the output folder's lock for the whole run (a second build into the folder
    fails at once); a run stopped by Ctrl-C or SIGTERM is recorded as ``interrupted``.
    ``progress``: the model stages report their progress over long batches.
    """
    settings = settings or load_settings()
    run_id = pipeline.new_run_id()
    with output_lock(settings.out_dir, purpose="build", run_id=run_id), fewer_collections():
        report = _build(paths, settings, run_id, progress)
    publish_report(report, settings.orchestration.task_runner)
    print(report.summary())
    return report


def _build(paths: Sequence[str], settings: Settings, run_id: str, progress: bool) -> BuildReport:
    """The flow's body, under the output folder's lock."""
    config = settings.orchestration
    logger = get_run_logger()
    url = settings.resolved_ledger_url()
    engine = _engine(url)
    run = BuildRun(list(paths), settings, run_id, engine, progress=progress)
    try:
        pipeline.check_store(settings)
        for step in pipeline.BUILD_STEPS:
            if step.name == "extract":
                _extract_batches(run)
            else:
                _configured(_step_task(step), config)(_whole(run))
            if step.describe is not None:
                logger.info("%s", step.describe(run))
        report = run.finished()
    except BaseException as exc:
        interrupted = is_interruption(exc) or isinstance(exc, TerminationSignal)
        try:
            pipeline.fail(engine, run_id, exc, interrupted=interrupted)
        except OperationalError as unrecorded:  # the ledger went away (or its disk is full)
            reason = str(unrecorded.orig or unrecorded).partition("\n")[0]
            logger.error("run %s: its end could not be recorded in the ledger (%s)", run_id, reason)
        if isinstance(exc, OperationalError):  # as kgbuild.pipeline.build says it
            raise LedgerUnavailableError(url, exc) from exc
        raise
    finally:
        _release_engine(url)
    _prune_cache(run)
    return report


def _prune_cache(run: BuildRun) -> None:
    """Remove the build's cached batches that no later run can read (after a success).

    Only a local result storage folder is pruned (Prefect's default); a storage block
    (S3...) is left as it is. A folder that cannot be pruned is a warning, not a failure.
    """
    logger = get_run_logger()
    storage = get_default_result_storage()  # where the extract tasks wrote (sync here)
    if not isinstance(storage, LocalFileSystem):
        logger.info("batch cache not pruned: the result storage is a %s", type(storage).__name__)
        return
    folder = Path(storage.basepath or ".").expanduser().resolve()
    todo, _ = run.planned()
    try:
        pruned = prune_batch_cache(folder, run.settings, current_batch_keys(todo, run.settings))
    except OSError as exc:
        logger.warning("batch cache in %s not pruned: %s", folder, exc)
        return
    if pruned.removed:
        logger.info(
            "batch cache: %d stale batches removed (%d KB), %d kept",
            pruned.removed,
            pruned.removed_bytes // 1024,
            pruned.kept,
        )


def run_build_flow(
    paths: Sequence[str], settings: Settings | None = None, *, progress: bool = False
) -> BuildReport:
    """Run :func:`build_kg_flow` from this process, as the CLI and the benchmark do.

    Without a Prefect server (no ``PREFECT_API_URL``) the flow runs on Prefect's
    temporary server, which lives and dies with this process, so nobody reads flow-run
    heartbeats; Prefect's sync engine still joins its heartbeat thread at the end of
    every run, which costs up to a second of idle wall time. Heartbeats are switched
    off in that case only; with a real server (crash detection) they stay on.

    SIGTERM raises :class:`~kgbuild.interrupts.Terminated` here once the flow has
    recorded the run as interrupted (Prefect passes the signal on after its own handling).

    Raises:
        PrefectUnavailableError: no Prefect server answers at ``PREFECT_API_URL``.
    """
    check_server()
    with sigterm_raises(), temporary_settings(updates=local_run_settings()):
        return build_kg_flow(paths, settings, progress)


def local_run_settings() -> dict[Setting, Any]:
    """Prefect settings for a run from this process: no heartbeats without a server."""
    if get_current_settings().api.url:
        return {}
    return {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}


if __name__ == "__main__":  # pragma: no cover
    import sys

    run_build_flow(sys.argv[1:] or ["examples/corpus"])
