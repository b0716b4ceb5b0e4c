"""Benchmark: the explorer's served endpoints, from a search to an entity page, on 10,000 entities.

The graph is ``bench_ask.synthetic_graph`` (organisations, people, places; founding, location
and employment relations with evidence; founding-year attributes), written as ``graph.json``
(embedded store) and, with ``--neo4j``, into the Maven-built local Neo4j by the project's
writer. ``kgbuild serve`` runs in a subprocess (``--ner-model none``: the explorer needs no
model, the question page's models are loaded anyway) and one client thread looks up
``--lookups`` random entities the way the page does: the type-ahead request for the name as
typed so far (its first word and the first two letters of the next), then the entity page of
the entity picked from the suggestions, then its neighbourhood (drawn next). Warm: a few
lookups run first. Also timed: a one-letter type-ahead (the most candidates) and the overview.

Usage::

    python bench/bench_explorer.py [--entities 10000] [--lookups 200] [--neo4j]

Writes ``bench/results/explorer.json`` (commit, machine, load average before and after, the
command).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta
from bench_serve import _free_port, write_graph

TARGET_P95_MS = 200.0


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(at(0.95), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
    }


def start_server(store: list[str], port: int, env: dict[str, str], log: Path) -> Any:
    """``kgbuild serve`` on 127.0.0.1:port over ``store`` options; returns once it answers."""
    command = [
        sys.executable, "-m", "kgbuild", "serve", *store, "--port", str(port),
        "--ner-model", "none",
    ]  # fmt: skip
    out = open(log, "wb")  # noqa: SIM115  (closed with the process)
    server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not answer /health within 600 s")


def typed(name: str) -> str:
    """What a person has typed when the suggestion shows: first word + two letters of the next."""
    words = name.split()
    return words[0] if len(words) == 1 else f"{words[0]} {words[1][:2]}"


def lookups(base: str, names: list[tuple[str, str]], warmup: int) -> dict[str, Any]:
    """Search -> entity page -> neighbourhood for each (id, name); latencies per step."""
    steps: dict[str, list[float]] = {"search": [], "entity": [], "neighbourhood": []}
    to_page, found = [], 0
    with httpx.Client(base_url=base, timeout=60) as client:

        def timed(path: str, params: dict[str, Any]) -> tuple[float, Any]:
            t0 = time.perf_counter()
            response = client.get(path, params=params)
            ms = (time.perf_counter() - t0) * 1000
            response.raise_for_status()
            return ms, response.json()

        for n, (entity_id, name) in enumerate(names):
            search_ms, result = timed("/explorer/search", {"q": typed(name)})
            ids = [r["id"] for r in result["results"]]
            picked = entity_id if entity_id in ids else (ids[0] if ids else entity_id)
            page_ms, page = timed("/explorer/entity", {"id": picked})
            hood_ms, _ = timed("/explorer/neighbourhood", {"id": picked})
            if n < warmup:
                continue
            found += entity_id in ids
            assert page["entity"]["id"] == picked
            steps["search"].append(search_ms)
            steps["entity"].append(page_ms)
            steps["neighbourhood"].append(hood_ms)
            to_page.append(search_ms + page_ms)
        one_letter = [timed("/explorer/search", {"q": c})[0] for c in "kmdrtlsbpa"]
        overview = [timed("/explorer/overview", {})[0] for _ in range(3)]
    return {
        "search_to_entity_page": _percentiles(to_page),
        "search": _percentiles(steps["search"]),
        "entity_page": _percentiles(steps["entity"]),
        "neighbourhood": _percentiles(steps["neighbourhood"]),
        "one_letter_search": _percentiles(one_letter),
        "overview_first_then_cached_ms": [round(ms, 1) for ms in overview],
        "target_found_in_suggestions": found,
    }


def _entities(graph: Path, n: int, seed: int) -> list[tuple[str, str]]:
    data = json.loads(graph.read_text(encoding="utf-8"))
    entities = [(str(v["id"]), str(v["name"])) for v in data["nodes"] if v.get("kind") == "entity"]
    return random.Random(seed).sample(entities, n)


def _neo4j(
    work: Path, entities: int, seed: int
) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    """Write the synthetic graph into a fresh local Neo4j; the serve options and env for it."""
    from bench_ask import synthetic_graph
    from neo4j import GraphDatabase

    from kgbuild.store.neo4j.server import LocalNeo4j, free_port
    from kgbuild.store.neo4j.writer import Neo4jWriter

    server = LocalNeo4j(work / "neo4j", port=free_port())
    uri = server.start(timeout=600)
    batch, _, _ = synthetic_graph(entities, seed)
    with GraphDatabase.driver(uri, auth=server.auth) as driver:
        writer = Neo4jWriter(driver)
        writer.ensure_schema(
            ["PER", "ORG", "LOC", "MISC"], ["FOUNDED_BY", "HEADQUARTERED_IN", "WORKS_FOR"]
        )
        writer.write(batch)
    user, password = server.auth or ("neo4j", "")
    env = {"KGBUILD_NEO4J__USER": user, "KGBUILD_NEO4J__PASSWORD": password}
    return ["--neo4j", uri], env, server.stop


def run(
    store_name: str,
    options: list[str],
    env: dict[str, str],
    work: Path,
    args: argparse.Namespace,
    names: list[tuple[str, str]],
) -> dict[str, Any]:
    port = _free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env}
    t0 = time.perf_counter()
    server = start_server(options, port, full_env, work / f"server-{store_name}.log")
    start_s = time.perf_counter() - t0
    try:
        measured = lookups(f"http://127.0.0.1:{port}", names, args.warmup)
    finally:
        server.terminate()
        server.wait(timeout=30)
    p95 = measured["search_to_entity_page"]["p95_ms"]
    return {"server_start_s": round(start_s, 1), **measured, "met": p95 <= TARGET_P95_MS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neo4j", action="store_true", help="also measure over Neo4j")
    args = parser.parse_args(argv)

    measurement = _meta.start()
    work_dir = tempfile.TemporaryDirectory(prefix="kgbuild-explorer-bench-")
    work = Path(work_dir.name)
    stores: dict[str, Any] = {}
    try:
        counts, _ = write_graph(args.entities, args.seed, work)
        names = _entities(work / "graph.json", args.lookups + args.warmup, args.seed + 1)
        stores["embedded"] = run(
            "embedded", ["--graph", str(work / "graph.json")], {}, work, args, names
        )
        if args.neo4j:
            options, env, stop = _neo4j(work, args.entities, args.seed)
            try:
                stores["neo4j"] = run("neo4j", options, env, work, args, names)
            finally:
                stop()
    finally:
        work_dir.cleanup()
    payload = {
        "benchmark": "explorer endpoints of `kgbuild serve`: type-ahead search -> entity page "
        "(-> neighbourhood), one client, warm",
        "graph": counts,
        "lookups": args.lookups,
        "warmup": args.warmup,
        "typed": "first word of the name and two letters of the next (e.g. 'Kalomi Ro')",
        "target": {"search_to_entity_page_p95_ms": TARGET_P95_MS},
        "stores": stores,
    }
    _meta.write_result(_meta.RESULTS / "explorer.json", payload, measurement)
    print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
