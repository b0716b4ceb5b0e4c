"""Benchmark: batched, idempotent Neo4j writes of a synthetic graph.

100,000 entities and 300,000 relations (one evidence span each, with full provenance) are
written by :class:`kgbuild.store.neo4j.writer.Neo4jWriter` twice (the second write is identical,
so it only matches). For comparison a subsample is written the naive way, one MERGE statement
per row in its own transaction, and its rate is extrapolated to the full graph.

Targets: >= 20,000 rows/s for the first write; the identical re-write in < 1/3 of the first
write's time; peak Python memory (max RSS of this process) < 1 GB.

The write is measured in ``--rounds`` (3) rounds, each on a freshly started server (a cold
JVM, as after ``kgbuild neo4j start``); the median round's figures are reported, and every
round's rates are kept under ``rounds`` (runs on the same 2-core host spread by 15-25%).

Relations are generated and written in chunks of ``--chunk`` (50,000) per ``write`` call, as a
pipeline would, so the input objects do not dominate the memory figure; ``--chunk 0`` writes all
of them in one call. Only the time inside the writer counts as write time.

Usage::

    python bench/bench_neo4j_write.py [--entities 100000] [--relations 300000] [--chunk 50000]
        [--rounds 3] [--out bench/results/neo4j_write.json]

Uses ``NEO4J_URI`` (+ ``NEO4J_USER``/``NEO4J_PASSWORD``; the database is wiped!) when set,
otherwise starts a :class:`~kgbuild.store.neo4j.server.LocalNeo4j` in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import _meta
from neo4j import Driver, GraphDatabase, ManagedTransaction

from kgbuild.data import Entity, Evidence, GraphDelta, Provenance, Relation, Span
from kgbuild.store.neo4j.server import LocalNeo4j
from kgbuild.store.neo4j.writer import Neo4jWriter

LABELS = ("PER", "ORG", "LOC", "MISC")
TYPES = ("WORKS_FOR", "LOCATED_IN", "MEMBER_OF", "RELATED_TO")
RUN_ID = "bench-run"

# The naive baseline: one statement (and one transaction) per row.
PER_ROW_ENTITY_TEMPLATE = "MERGE (n:Entity {{id: $id}}) SET n += $props, n:{label}"
PER_ROW_RELATION_TEMPLATE = (
    "MATCH (a:Entity {{id: $head}}) MATCH (b:Entity {{id: $tail}}) "
    "MERGE (a)-[r:{rel_type} {{id: $id}}]->(b) SET r += $props"
)
# the optional neo4j-rust-ext package speeds up the driver's encoding about 10x
CODEC = "rust (neo4j-rust-ext)" if find_spec("neo4j._rust") else "pure Python"
WIPE = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"


def max_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_entities(n_entities: int, prefix: str = "e") -> list[Entity]:
    """Synthetic entities (constructed without re-validation: they are valid by design)."""
    return [
        Entity.model_construct(
            id=f"{prefix}{i}",
            label=LABELS[i % len(LABELS)],
            name=f"Entity {i}",
            aliases=(f"entity {i}", f"E{i}"),
            mention_ids=(),
            doc_ids=(),
        )
        for i in range(n_entities)
    ]


def make_relations(
    n_entities: int, start: int, count: int, seed: int, prefix: str = "e"
) -> list[Relation]:
    """Relations ``start .. start+count-1``, each with one evidence span and full provenance.

    Deterministic for a given (seed, start), so a second write sees identical rows.
    """
    rng = random.Random(seed * 1_000_003 + start)
    relations = []
    for j in range(start, start + count):
        doc = f"doc{j % 20_000}"
        begin = rng.randrange(0, 5000)
        provenance = Provenance.model_construct(
            doc_id=doc,
            chunk_id=f"{doc}-c{j % 7}",
            span=Span.model_construct(start=begin, end=begin + rng.randrange(10, 200)),
            score=round(rng.random(), 4),
            model="bench-re",
            model_revision="rev1",
            run_id=RUN_ID,
            stage="relations",
        )
        relations.append(
            Relation.model_construct(
                id=f"{prefix}r{j}",
                head=f"{prefix}{rng.randrange(n_entities)}",
                tail=f"{prefix}{rng.randrange(n_entities)}",
                type=TYPES[j % len(TYPES)],
                score=round(rng.random(), 4),
                evidence=(
                    Evidence.model_construct(provenance=provenance, text=f"sentence {j} says so"),
                ),
            )
        )
    return relations


class KindClock:
    """Writer progress callback: seconds per kind of row (``entities``, ``relations``).

    Each committed batch is charged the time since the previous batch (or since
    :meth:`start`, called as a ``write`` begins), which includes building its rows.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._last = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()

    def __call__(self, kind: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.seconds[kind.split(":")[0]] += now - self._last
        self._last = now


def write_graph(
    writer: Neo4jWriter,
    entities: list[Entity],
    n_relations: int,
    chunk: int,
    seed: int,
    clock: KindClock | None = None,
) -> tuple[float, float]:
    """Write the entities and the relations, ``chunk`` relations per ``write`` call.

    Returns:
        (seconds spent in the writer, seconds spent generating relations).
    """
    in_writer = generating = 0.0
    for k, start in enumerate(range(0, n_relations, chunk)):
        t0 = time.perf_counter()
        relations = make_relations(len(entities), start, min(chunk, n_relations - start), seed)
        batch = GraphDelta(
            run_id=RUN_ID, entities=tuple(entities) if k == 0 else (), relations=tuple(relations)
        )
        t1 = time.perf_counter()
        if clock is not None:
            clock.start()
        writer.write(batch)
        in_writer += time.perf_counter() - t1
        generating += t1 - t0
        del relations, batch
    return in_writer, generating


def per_row_write(
    driver: Driver, entities: Sequence[Entity], relations: Sequence[Relation]
) -> float:
    """Write each row in its own transaction with one MERGE; return seconds."""
    entity_queries = {label: PER_ROW_ENTITY_TEMPLATE.format(label=label) for label in LABELS}
    relation_queries = {t: PER_ROW_RELATION_TEMPLATE.format(rel_type=t) for t in TYPES}

    def run(tx: ManagedTransaction, query: str, params: dict[str, Any]) -> None:
        tx.run(query, params).consume()

    t0 = time.perf_counter()
    with driver.session(database="neo4j") as session:
        for e in entities:
            entity_props = {"name": e.name, "label": e.label, "aliases": list(e.aliases)}
            params = {"id": e.id, "props": entity_props}
            session.execute_write(run, entity_queries[e.label], params)
        for r in relations:
            p = r.evidence[0].provenance
            props = {
                "score": r.score,
                "doc_id": p.doc_id,
                "chunk_id": p.chunk_id,
                "start": p.span.start,
                "end": p.span.end,
                "model": p.model,
                "run_id": p.run_id,
                "evidence": [r.evidence[0].text],
            }
            rel_params = {"id": r.id, "head": r.head, "tail": r.tail, "props": props}
            session.execute_write(run, relation_queries[r.type], rel_params)
    return time.perf_counter() - t0


PER_ROW_KEYS = (
    "per_row_sample_rows",
    "per_row_sample_s",
    "per_row_rows_per_s",
    "per_row_extrapolated_full_write_s",
)
ROUND_KEYS = (
    "first_write_rows_per_s",
    "first_write_entities_rows_per_s",
    "first_write_relations_rows_per_s",
    "second_over_first",
)


def measure_round(args: argparse.Namespace, *, with_per_row: bool) -> dict[str, Any]:
    """One round: a fresh local server (or the wiped ``NEO4J_URI`` database), two writes."""
    server: LocalNeo4j | None = None
    tmp = tempfile.TemporaryDirectory(prefix="kgbuild-neo4j-bench-")
    uri = os.environ.get("NEO4J_URI")
    auth: tuple[str, str] | None = None
    t0 = time.perf_counter()
    if uri:
        password = os.environ.get("NEO4J_PASSWORD")
        auth = (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None
    else:
        server = LocalNeo4j(Path(tmp.name) / "neo4j")
        uri = server.start(timeout=300)
        auth = server.auth
    startup_s = time.perf_counter() - t0
    per_row_s = 0.0
    per_row_rows = 0
    try:
        with GraphDatabase.driver(uri, auth=auth) as driver:
            with driver.session(database="neo4j") as session:
                session.run(WIPE).consume()
            chunk = args.chunk or args.relations
            t0 = time.perf_counter()
            entities = make_entities(args.entities)
            gen_s = time.perf_counter() - t0
            rows = args.entities + args.relations

            clock = KindClock()
            writer = Neo4jWriter(driver, batch_size=args.batch_size, progress=clock)
            writer.ensure_schema(LABELS, TYPES)
            first_s, gen_rel_s = write_graph(
                writer, entities, args.relations, chunk, args.seed, clock
            )
            first_by_kind = dict(clock.seconds)
            gen_s += gen_rel_s
            counts_first = writer.counts()
            second_s, _ = write_graph(writer, entities, args.relations, chunk, args.seed)
            counts_second = writer.counts()

            if with_per_row:
                n_sub = args.per_row_entities
                sub_entities = make_entities(n_sub, prefix="p")
                sub_relations = make_relations(n_sub, 0, 3 * n_sub, args.seed + 1, prefix="p")
                per_row_s = per_row_write(driver, sub_entities, sub_relations)
                per_row_rows = len(sub_entities) + len(sub_relations)
        server_rss = server.status().rss_bytes if server else None
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()

    assert counts_first == counts_second, (counts_first, counts_second)
    assert counts_first["Entity"] == args.entities
    assert sum(counts_first.get(t, 0) for t in TYPES) == args.relations

    per_row_rate = per_row_rows / per_row_s if per_row_s else 0.0
    return {
        "server": "LocalNeo4j 5.26 (tools/neo4j)" if server else uri,
        "server_startup_s": round(startup_s, 1),
        "entities": args.entities,
        "relations": args.relations,
        "batch_size": args.batch_size,
        "generate_s": round(gen_s, 1),
        "first_write_s": round(first_s, 1),
        "first_write_rows_per_s": round(rows / first_s),
        "first_write_entities_s": round(first_by_kind.get("entities", 0.0), 1),
        "first_write_entities_rows_per_s": round(args.entities / first_by_kind["entities"])
        if first_by_kind.get("entities")
        else None,
        "first_write_relations_s": round(first_by_kind.get("relations", 0.0), 1),
        "first_write_relations_rows_per_s": round(args.relations / first_by_kind["relations"])
        if first_by_kind.get("relations")
        else None,
        "second_write_s": round(second_s, 1),
        "second_write_rows_per_s": round(rows / second_s),
        "second_over_first": round(second_s / first_s, 3),
        "per_row_sample_rows": per_row_rows,
        "per_row_sample_s": round(per_row_s, 1),
        "per_row_rows_per_s": round(per_row_rate),
        "per_row_extrapolated_full_write_s": round(rows / per_row_rate) if per_row_rate else None,
        "relations_per_write_call": chunk,
        "packstream_codec": CODEC,
        "server_rss_mb": round(server_rss / 2**20) if server_rss else None,
    }


def print_summary(args: argparse.Namespace, r: dict[str, Any], rates: list[int]) -> None:
    """The reported (median) round against the targets, and every round's first-write rate."""
    rows = args.entities + args.relations
    if len(rates) > 1:
        listed = ", ".join(f"{rate:,}" for rate in rates)
        print(f"first write per round (fresh server each): {listed} rows/s; median round below")
    print(f"graph: {args.entities:,} entities + {args.relations:,} relations = {rows:,} rows")
    print(
        f"first write:     {r['first_write_s']:7.1f} s  {r['first_write_rows_per_s']:10,} rows/s"
        "   (target >= 20,000)"
    )
    for kind in ("entities", "relations"):
        if r[f"first_write_{kind}_rows_per_s"]:
            print(
                f"  {kind + ':':15s} {r[f'first_write_{kind}_s']:7.1f} s  "
                f"{r[f'first_write_{kind}_rows_per_s']:10,} rows/s"
            )
    print(
        f"identical write: {r['second_write_s']:7.1f} s  {r['second_write_rows_per_s']:10,} "
        f"rows/s   = {r['second_over_first']:.2f} x first (target < 0.33)"
    )
    print(
        f"one MERGE per row (sample of {r['per_row_sample_rows']:,} rows, extrapolated): "
        f"{r['per_row_rows_per_s']:,} rows/s -> {r['per_row_extrapolated_full_write_s']:,} s for "
        f"the full graph; batched is {r['batched_over_per_row_speedup']:.1f}x faster"
    )
    print(
        f"peak Python memory (max RSS): {r['python_max_rss_mb']:,} MiB (target < 1024), "
        f"{r['relations_per_write_call']:,} relations per write call, "
        f"packstream codec: {r['packstream_codec']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=300_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--chunk",
        type=int,
        default=50_000,
        help="relations per Neo4jWriter.write call (the pipeline's batch); 0: all at once",
    )
    parser.add_argument("--per-row-entities", type=int, default=1000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds, each on a fresh server; the median round's figures are reported",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/neo4j_write.json"))
    args = parser.parse_args(argv)

    run = _meta.start()
    rounds = [measure_round(args, with_per_row=i == 0) for i in range(args.rounds)]
    by_rate = sorted(rounds, key=lambda r: r["first_write_rows_per_s"])
    result = {**by_rate[(len(by_rate) - 1) // 2]}  # the median round (the lower one of two)
    for key in PER_ROW_KEYS:
        result[key] = rounds[0][key]
    result["batched_over_per_row_speedup"] = round(
        result["first_write_rows_per_s"] / result["per_row_rows_per_s"], 1
    )
    result["rounds"] = [{key: r[key] for key in ROUND_KEYS} for r in rounds]
    result["python_max_rss_mb"] = round(max_rss_mb())
    print_summary(args, result, [r["first_write_rows_per_s"] for r in rounds])
    _meta.write_result(args.out, result, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
