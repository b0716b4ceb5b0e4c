"""Benchmark: a bounded load test of ``kgbuild serve`` over a synthetic 10,000-entity graph.

The graph is ``bench_ask.synthetic_graph`` (organisations, people, places; founding,
headquarters and employment relations; founding-year attributes; every sentence is the
evidence of a relation or attribute), built with the project's ``build_graph`` and written
as ``graph.json`` by its exporter. ``kgbuild serve`` runs it in a subprocess (default QA and
NER models, CPU), and a pool of ``--concurrency`` threads sends ``--requests`` ``POST /ask``
requests drawn from the graph's questions over one keep-alive ``httpx`` client. An error is
any non-200 status or failed request. Then one over-size body checks the 413 under load.

Writes ``bench/results/serve_load.json``: p50/p95/mean/max latency, errors, throughput,
server memory before and after, the commit, the machine (cores, load average before and
after) and the command. Latencies on a shared machine are noisy: read them with the load
average beside them.

Usage::

    python bench/bench_serve.py [--entities 10000] [--requests 500] [--concurrency 8]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta
from bench_ask import synthetic_graph


def write_graph(n_entities: int, seed: int, out: Path) -> tuple[dict[str, int], list[str]]:
    """The synthetic graph as ``out/graph.json``; returns its counts and its questions."""
    from kgbuild.graph.build import build_graph
    from kgbuild.graph.export import write_node_link

    batch, entities, questions = synthetic_graph(n_entities, seed)
    mention_to_entity = {m: e.id for e in entities for m in e.mention_ids}
    documents = [
        {"id": d.id, "source": d.source, "content_hash": d.content_hash} for d in batch.documents
    ]
    graph = build_graph(
        documents,
        entities,
        batch.mentions,
        mention_to_entity,
        batch.relations,
        attributes=batch.attributes,
    )
    write_node_link(graph, out / "graph.json")
    counts = {
        "entities": len(entities),
        "documents": len(documents),
        "relations": len(batch.relations),
        "attributes": len(batch.attributes),
        "sentences": len(batch.chunks),
    }
    return counts, [question for question, _, _ in questions]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(graph: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """``kgbuild serve`` on 127.0.0.1:port; returns once /health answers."""
    command = [
        sys.executable, "-m", "kgbuild", "serve", "--graph", str(graph),
        "--port", str(port), "--qa-model", args.qa_model, "--ner-model", args.ner_model,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(graph.parent / "server.log", "wb")  # noqa: SIM115  (closed with the process)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {(graph.parent / 'server.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"the server did not answer /health within {args.start_timeout} s")


def fire(base: str, questions: list[str], concurrency: int) -> list[dict[str, Any]]:
    """Send every question from ``concurrency`` threads; one row per request."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base, timeout=120, limits=limits) as client:

        def one(question: str) -> dict[str, Any]:
            t0 = time.perf_counter()
            try:
                response = client.post("/ask", json={"question": question})
                status, ok = response.status_code, response.status_code == 200
                ok = ok and "answered" in response.json()
            except (httpx.HTTPError, ValueError) as exc:
                status, ok = type(exc).__name__, False
            return {"ms": (time.perf_counter() - t0) * 1000, "status": status, "ok": ok}

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, questions))


def oversize_check(base: str, limit: int = 65_536) -> dict[str, Any]:
    """One body of 20 MB: the server must answer 413 with a short body."""
    body = b'{"question": "' + b"x" * 20_000_000 + b'"}'
    try:
        response = httpx.post(
            f"{base}/ask", content=body, headers={"content-type": "application/json"}, timeout=60
        )
        return {"status": response.status_code, "response_bytes": len(response.content)}
    except httpx.HTTPError as exc:  # the server may close while the client still sends
        return {"status": None, "error": type(exc).__name__, "limit": limit}


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--qa-model", default="default")
    parser.add_argument("--ner-model", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start-timeout", type=float, default=600)
    args = parser.parse_args(argv)

    run = _meta.start()
    work = tempfile.TemporaryDirectory(prefix="kgbuild-serve-load-")
    out = Path(work.name)
    t0 = time.perf_counter()
    counts, all_questions = write_graph(args.entities, args.seed, out)
    graph_s = time.perf_counter() - t0
    rng = random.Random(args.seed + 1)
    questions = [rng.choice(all_questions) for _ in range(args.warmup + args.requests)]
    port = _free_port()
    t0 = time.perf_counter()
    server = start_server(out / "graph.json", port, args)
    start_s = time.perf_counter() - t0
    base = f"http://127.0.0.1:{port}"
    try:
        fire(base, questions[: args.warmup], args.concurrency)
        rss_before = _rss_mb(server.pid)
        t0 = time.perf_counter()
        rows = fire(base, questions[args.warmup :], args.concurrency)
        wall = time.perf_counter() - t0
        rss_after = _rss_mb(server.pid)
        oversize = oversize_check(base)
        rss_after_oversize = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        work.cleanup()
    ms = sorted(r["ms"] for r in rows)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    payload = {
        "benchmark": "kgbuild serve under load: POST /ask, synthetic graph, CPU, warm",
        "graph": {**counts, "build_s": round(graph_s, 1)},
        "server": {
            "models": {"qa": args.qa_model, "ner": args.ner_model},
            "start_s": round(start_s, 1),
            "rss_mb_before_load": rss_before,
            "rss_mb_after_load": rss_after,
            "rss_mb_after_oversize_body": rss_after_oversize,
        },
        "requests": len(rows),
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "errors": sum(not r["ok"] for r in rows),
        "statuses": statuses,
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(_percentile(ms, 0.95), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "max_ms": round(ms[-1], 1),
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(rows) / wall, 2),
        "oversize_body_20mb": oversize,
        "note": "one run on a shared machine: latencies are noisy, read them with the load",
    }
    _meta.write_result(_meta.RESULTS / "serve_load.json", payload, run)
    summary = ("errors", "p50_ms", "p95_ms", "throughput_rps", "oversize_body_20mb")
    print(json.dumps({k: payload[k] for k in summary}, indent=1))
    return 0 if payload["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
