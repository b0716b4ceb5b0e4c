"""Run a user's Cypher query only if it is read-only, and only for a limited time.

A read transaction alone is not enough: the server refuses writes in it, but still runs
``LOAD CSV`` (which reads files on the server, or fetches URLs from it) and procedures that
change server state (``db.clearQueryCaches``, ``dbms.killConnections`` ...). So the query's
``EXPLAIN`` plan is checked first, in the same transaction: only read queries (query type
``r``), no ``LoadCSV`` or ``TerminateTransactions`` operator (``TERMINATE TRANSACTIONS`` is
of type ``r`` too), no ``SHOW`` command but those of the graph's schema (``SHOW SETTINGS`` and
``SHOW TRANSACTIONS`` are reads of server information), and procedure calls only to
:data:`READ_PROCEDURES`. The
transaction has a timeout, which the server enforces.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from neo4j import READ_ACCESS, Driver, ManagedTransaction, unit_of_work
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired
from neo4j.graph import Node, Path, Relationship
from neo4j.spatial import Point
from neo4j.time import Date, DateTime, Duration, Time

from kgbuild.errors import InputError, KGBuildError
from kgbuild.store.neo4j import queries

__all__ = [
    "READ_PROCEDURES",
    "QueryFailedError",
    "QueryResult",
    "QueryTimeoutError",
    "ReadOnlyQueryError",
    "check_read_only",
    "plain_value",
    "run_read_query",
]

#: Procedures a read-only query may call: schema and index look-ups that change nothing.
#: Not ``dbms.components`` nor ``dbms.showCurrentUser``: they show the server (its version,
#: the user) rather than the graph, and plan as administration commands (query type ``s``).
READ_PROCEDURES: Final = frozenset(
    {
        "db.labels",
        "db.relationshipTypes",
        "db.propertyKeys",
        "db.schema.visualization",
        "db.schema.nodeTypeProperties",
        "db.schema.relTypeProperties",
        "db.index.fulltext.queryNodes",
        "db.index.fulltext.queryRelationships",
        "db.index.fulltext.listAvailableAnalyzers",
        "db.index.vector.queryNodes",
        "db.index.vector.queryRelationships",
        "db.info",
        "db.ping",
    }
)
#: Plan operators refused whatever the query type: ``TERMINATE TRANSACTIONS`` plans as a read
#: (query type ``r``), yet stops other sessions' transactions, a build's writes included;
#: ``SHOW SETTINGS`` and ``SHOW TRANSACTIONS`` plan as reads too, yet show the server's
#: configuration and other sessions' queries with their parameters (user names, client
#: addresses), which are no part of the graph.
_REFUSED_OPERATORS: Final = {
    "LoadCSV": "LOAD CSV reads files or URLs from the server",
    "TerminateTransactions": "TERMINATE TRANSACTIONS stops other sessions' transactions",
    "ShowSettings": "SHOW SETTINGS shows the server's configuration, not the graph",
    "ShowTransactions": "SHOW TRANSACTIONS shows other sessions' queries and parameters",
}
#: ``SHOW`` commands that describe the graph's schema or the language, and nothing else.
_GRAPH_SHOW_OPERATORS: Final = frozenset(
    {"ShowIndexes", "ShowConstraints", "ShowFunctions", "ShowProcedures"}
)


class ReadOnlyQueryError(InputError):
    """The query is not read-only (it writes, loads CSV or calls a procedure not allowed)."""


#: What ``EXPLAIN``/``PROFILE`` queries get: the table shows rows, which they do not return.
_PLAN_REFUSED: Final = (
    "query refused: kgbuild cypher prints rows, not plans; run it without EXPLAIN or PROFILE "
    "(Neo4j Browser and cypher-shell show plans)"
)


class QueryTimeoutError(KGBuildError):
    """The query ran longer than its timeout and the server stopped it."""


class QueryFailedError(KGBuildError):
    """The server rejected or failed the query (syntax error, unknown function ...)."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows (as dicts) of a query."""

    keys: tuple[str, ...]
    rows: list[dict[str, Any]]


def plain_value(value: Any) -> Any:
    """A query value as plain data (dicts, lists, strings, numbers) that keeps what it shows.

    Nodes and relationships become their own properties (the driver's ``Record.data()`` gives a
    relationship as its end nodes' properties and its type, dropping its own), a path the list
    of its nodes and relationships, as Neo4j's HTTP API rows do; dates, times and durations
    their ISO 8601 text (``P1DT2H``, not the tuple ``[0, 1, 7200, 0]``); a point its ``srid``
    and coordinates (not a bare list of numbers).
    """
    if isinstance(value, Node | Relationship):
        return {key: plain_value(value[key]) for key in value}
    if isinstance(value, Path):
        items: list[Any] = [plain_value(value.start_node)]
        for relationship, node in zip(value.relationships, value.nodes[1:], strict=True):
            items += [plain_value(relationship), plain_value(node)]
        return items
    if isinstance(value, Date | Time | DateTime | Duration):
        return value.iso_format()
    if isinstance(value, Point):
        return {"srid": value.srid, **dict(zip("xyz", value, strict=False))}
    if isinstance(value, Mapping):
        return {key: plain_value(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    return value


def _operators(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("children", ()):
        yield from _operators(child)


def _procedure_name(details: str) -> str:
    """``"db.labels() :: (label :: STRING)"`` -> ``"db.labels"``."""
    return details.partition("(")[0].strip()


def check_read_only(query_type: str | None, plan: Mapping[str, Any] | None) -> None:
    """Refuse a query whose ``EXPLAIN`` summary shows it is not read-only.

    Args:
        query_type: ``ResultSummary.query_type`` (``r``, ``rw``, ``w`` or ``s``).
        plan: ``ResultSummary.plan`` (a tree of operators with ``args`` and ``children``).

    Raises:
        ReadOnlyQueryError: Naming what is not allowed.
    """
    if plan is None:
        raise ReadOnlyQueryError("query refused: the server returned no plan to check")
    operators = list(_operators(plan))
    names = {str(operator.get("operatorType", "")).partition("@")[0] for operator in operators}
    for name, reason in _REFUSED_OPERATORS.items():  # TERMINATE before the SHOW it may follow
        if name in names:
            raise ReadOnlyQueryError(f"query refused: {reason}")
    for operator in operators:
        name = str(operator.get("operatorType", "")).partition("@")[0]
        if name.startswith("Show") and name not in _GRAPH_SHOW_OPERATORS:
            raise ReadOnlyQueryError(
                f"query refused: {name} shows server information, not the graph (SHOW "
                "INDEXES, CONSTRAINTS, FUNCTIONS and PROCEDURES are allowed)"
            )
        if name == "ProcedureCall":
            procedure = _procedure_name(str(operator.get("args", {}).get("Details", "")))
            if procedure not in READ_PROCEDURES:
                raise ReadOnlyQueryError(
                    f"query refused: procedure {procedure or '(unknown)'} is not on the "
                    f"read-only list ({', '.join(sorted(READ_PROCEDURES))})"
                )
    if query_type != "r":
        what = {"s": "changes the schema or is an administration command"}.get(
            query_type or "", "writes"
        )
        raise ReadOnlyQueryError(f"query refused: it {what}; kgbuild cypher runs read queries only")


def run_read_query(
    driver: Driver,
    query: str,
    params: Mapping[str, Any] | None = None,
    *,
    database: str = "neo4j",
    timeout_s: float = 30.0,
) -> QueryResult:
    """Check that ``query`` is read-only, then run it in a read transaction with a timeout.

    Args:
        driver: An open driver.
        query: The user's Cypher.
        params: Its parameters.
        database: Target database.
        timeout_s: Transaction timeout in seconds (the server stops the query after it).

    Returns:
        The query's columns and rows.

    Raises:
        ReadOnlyQueryError: The query is not read-only.
        QueryTimeoutError: It ran longer than ``timeout_s``.
        QueryFailedError: The server rejected or failed it (one line: the server's message).
        ServiceUnavailable: The server cannot be reached (callers report it their way).
        AuthError: The server refused the credentials (likewise).
    """
    parameters = dict(params or {})

    @unit_of_work(timeout=timeout_s)
    def work(tx: ManagedTransaction) -> QueryResult:
        try:
            summary = tx.run(queries.EXPLAIN_TEMPLATE.format(query=query), parameters).consume()
        except Neo4jError as exc:  # "EXPLAIN PROFILE ...": conflicting execution modes
            if exc.code == "Neo.ClientError.Statement.ArgumentError" and "execution mode" in (
                exc.message or ""
            ):
                raise ReadOnlyQueryError(_PLAN_REFUSED) from exc
            raise
        check_read_only(summary.query_type, summary.plan)
        result = tx.run(query, parameters)
        keys = tuple(result.keys())
        rows = [{k: plain_value(v) for k, v in zip(keys, record, strict=True)} for record in result]
        if result.consume().plan is not None:  # the user's own EXPLAIN: a plan, no rows
            raise ReadOnlyQueryError(_PLAN_REFUSED)
        return QueryResult(keys, rows)

    try:
        with driver.session(
            database=database, default_access_mode=READ_ACCESS, notifications_min_severity="OFF"
        ) as session:
            return session.execute_read(work)
    except (ServiceUnavailable, SessionExpired, AuthError):
        raise
    except Neo4jError as exc:
        if "TransactionTimedOut" in (exc.code or ""):
            raise QueryTimeoutError(
                f"query stopped: it ran longer than the {timeout_s:g} s timeout (--timeout)"
            ) from exc
        message = (exc.message or "").strip()
        raise QueryFailedError(
            f"query failed: {message.splitlines()[0] if message else exc.code}"
        ) from exc
