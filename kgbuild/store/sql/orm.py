"""SQLAlchemy 2.0 tables of the run ledger: runs, documents, stage events, stored results."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kgbuild.config import url_without_password
from kgbuild.errors import ConfigError, KGBuildError

__all__ = [
    "Base",
    "DocumentRow",
    "GraphTargetRow",
    "LedgerUnavailableError",
    "ResultRow",
    "RunRow",
    "StageEventRow",
    "make_engine",
]


def utcnow() -> datetime:
    """Timezone-aware now, for timestamps."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the ledger tables."""


class RunRow(Base):
    """One build run and its counts."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    """``running``, ``succeeded``, ``failed``, ``interrupted`` (SIGINT/SIGTERM) or
    ``abandoned`` (its process ended without finishing it, e.g. ``kill -9``)."""
    documents: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    mentions: Mapped[int] = mapped_column(Integer, default=0)
    entities: Mapped[int] = mapped_column(Integer, default=0)
    merges: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    """The process that ran it (``None`` in runs recorded before pids were)."""
    host: Mapped[str | None] = mapped_column(String(255))
    """The host of that process."""


class DocumentRow(Base):
    """The latest known state of one document."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(16), default="en")
    model_key: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    """``ok``, ``failed`` or ``deleted``."""
    last_run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    neo4j_key: Mapped[str | None] = mapped_column(Text)
    """What was last written to Neo4j for this document: target, content hash, model key."""
    metadata_json: Mapped[str | None] = mapped_column(Text)
    """The document's metadata (JSON object of strings), ``None`` when it has none."""


class ResultRow(Base):
    """What the extraction stages produced for one document version (JSON)."""

    __tablename__ = "results"

    doc_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    model_key: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    payload: Mapped[str] = mapped_column(Text)


class StageEventRow(Base):
    """One stage outcome for one document (or input file) in one run.

    A document skipped as unchanged keeps only its latest ``skipped`` event (the runs'
    ``skipped`` counts hold the rest), and one (or an input that cannot be read) failing the
    same way run after run the first and latest event of that streak, so that the table
    grows with the corpus, not with runs times documents; every other outcome is kept.
    """

    __tablename__ = "stage_events"
    __table_args__ = (
        Index("ix_stage_events_run", "run_id"),
        Index("ix_stage_events_doc", "doc_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    doc_id: Mapped[str | None] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    """``ok``, ``skipped``, ``failed`` or ``deleted``."""
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GraphTargetRow(Base):
    """What a graph store (a Neo4j server and database) holds as a whole."""

    __tablename__ = "graph_targets"

    target: Mapped[str] = mapped_column(String(512), primary_key=True)
    inputs: Mapped[str | None] = mapped_column(String(64))
    """What the graph last written there completely was built from (the ledger's current
    documents, the settings and the code; :func:`kgbuild.pipeline.assembly_inputs`);
    ``None`` while a write runs, or after one that did not finish."""
    run_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and the ledger tables if missing (SQLite folders too).

    Raises:
        ConfigError: ``url`` is not a SQLAlchemy URL, or names a database or driver that
            is not installed (the message shows the URL without its password).
        LedgerUnavailableError: The database cannot be reached or written.
    """
    if url.startswith("sqlite:///"):
        from pathlib import Path

        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:  # not a URL, no such database, no driver
        raise ConfigError(f"ledger_url {_shown(url)}: {_url_problem(exc)}") from exc
    try:
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
        _add_missing_indexes(engine)
    except OperationalError as exc:
        engine.dispose()
        raise LedgerUnavailableError(url, exc) from exc
    return engine


class LedgerUnavailableError(KGBuildError, ConnectionError):
    """The run ledger's database cannot be reached or written (server down, disk full).

    Args:
        url: The ledger URL (shown without its password).
        error: What the database driver said.
    """

    def __init__(self, url: str, error: OperationalError) -> None:
        reason = str(error.orig if error.orig is not None else error).strip()
        reason = reason.splitlines()[0] if reason else type(error).__name__
        super().__init__(
            f"the run ledger {_shown(url)} cannot be reached or written ({reason}): start its "
            "database server (or free space for it), then run again; the documents recorded "
            "so far are kept and are not read again"
        )


def _shown(url: str) -> str:
    """The URL without its password."""
    shown = url_without_password(url)
    return "(not shown)" if shown is None else repr(shown)


def _url_problem(exc: Exception) -> str:
    if isinstance(exc, ImportError):
        return (
            f"its database driver is not installed ({exc}); for PostgreSQL write "
            "postgresql+psycopg://user:password@host/database"
        )
    if isinstance(exc, NoSuchModuleError):
        return f"no such database kind ({exc}); e.g. sqlite:///ledger.sqlite or postgresql+psycopg://..."
    return f"not a SQLAlchemy URL ({exc}); e.g. sqlite:///ledger.sqlite or postgresql+psycopg://..."


_ADDED_COLUMNS = {"documents": ("metadata_json",), "runs": ("pid", "host")}
"""Nullable columns added after the first release, by table: ledgers made before get them."""


def _add_missing_columns(engine: Engine) -> None:
    """Add the columns of :data:`_ADDED_COLUMNS` that an older ledger lacks (``ALTER TABLE``)."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError

    def present(table: str) -> set[str]:
        return {column["name"] for column in inspect(engine).get_columns(table)}

    for table, columns in _ADDED_COLUMNS.items():
        for name in columns:
            if name in present(table):
                continue
            kind = Base.metadata.tables[table].c[name].type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    # names come from this module, never from data
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
            except DBAPIError:
                if name not in present(table):  # not another process adding it first
                    raise


def _add_missing_indexes(engine: Engine) -> None:
    """Create the indexes an older ledger's tables lack (``create_all`` adds only tables).

    Each is looked up first: ``CREATE INDEX IF NOT EXISTS`` alone would lock a table that a
    running build writes to. ``IF NOT EXISTS`` still covers another process creating it
    between the look-up and the ``CREATE``.
    """
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateIndex

    for table in Base.metadata.sorted_tables:
        present = {index["name"] for index in inspect(engine).get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            if index.name not in present:
                with engine.begin() as connection:
                    connection.execute(CreateIndex(index, if_not_exists=True))
