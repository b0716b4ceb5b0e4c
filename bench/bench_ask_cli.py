"""Benchmark: ``kgbuild ask`` from a cold CLI on the example graph, alone and with a server.

Builds the example corpus (``examples/corpus``, NER, relations and attributes on, as ``make
demo`` does, without Neo4j) into a temporary folder, then times, as wall-clock seconds of a
new process to the printed answer, each of the first ``--questions`` questions of
``examples/qa.jsonl``:

- ``alone``: ``kgbuild ask --no-server`` (loads the models itself; its merged-adapter cache,
  ``KGBUILD_MODEL_CACHE``, is a folder of this run, filled by the build before the timing);
- ``alone, no cache``: the same with ``KGBUILD_MODEL_CACHE=off`` (merges the adapters on
  every load), run in turn with ``alone`` question by question;
- ``alone, transformers' classes``: the same as ``alone`` with ``KGBUILD_PLAIN_BERT=off``
  (models and tokenizers loaded by transformers' classes, as before plain-torch BERT), in
  the same turn;
- ``via serve``: ``kgbuild ask`` while ``kgbuild serve`` runs for the same graph (the CLI
  finds its record and posts the question; the server started before the timing).

Both must print the same answers (checked). Writes ``--out`` (default
``bench/results/ask_cli.json``) with each time, the medians, their ratio, the server's start
time, the commit, the machine and the command.

Usage::

    python bench/bench_ask_cli.py [--questions 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 5.0
"""Issue 17: a cold ``kgbuild ask`` answers within 5 s on the example graph."""


def _kgbuild(*args: str) -> list[str]:
    return [sys.executable, "-m", "kgbuild", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not answer /health within {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--start-timeout", type=float, default=300)
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "ask_cli.json", help="result file"
    )
    args = parser.parse_args(argv)

    questions = [
        json.loads(line)["question"]
        for line in (REPO / "examples" / "qa.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ][: args.questions]
    work = tempfile.TemporaryDirectory(prefix="kgbuild-ask-cli-")
    root = Path(work.name)
    out = root / "out"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "KGBUILD_SERVE__REGISTRY_DIR": str(root / "servers"),
        "KGBUILD_MODEL_CACHE": str(root / "merged"),
        "KGBUILD_RELATIONS__ENABLED": "true",
        "KGBUILD_ATTRIBUTES__ENABLED": "true",
    }
    build_s, _ = _timed(
        _kgbuild("build", str(REPO / "examples" / "corpus"), "--out", str(out)), env
    )

    run = _meta.start()
    ask = [*_kgbuild("ask"), "--out", str(out)]
    no_cache_env = {**env, "KGBUILD_MODEL_CACHE": "off"}
    transformers_env = {**env, "KGBUILD_PLAIN_BERT": "off"}
    alone, no_cache, with_transformers = [], [], []
    for q in questions:
        no_cache.append(_timed([*ask[:4], q, *ask[4:], "--no-server"], no_cache_env))
        alone.append(_timed([*ask[:4], q, *ask[4:], "--no-server"], env))
        with_transformers.append(_timed([*ask[:4], q, *ask[4:], "--no-server"], transformers_env))
    if [a[1] for a in alone] != [n[1] for n in no_cache]:
        raise SystemExit("the cached merged models answer differently from a fresh merge")
    if [a[1] for a in alone] != [t[1] for t in with_transformers]:
        raise SystemExit("plain-torch BERT answers differently from transformers' classes")
    port = _free_port()
    log = root / "server.log"
    t0 = time.perf_counter()
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            _kgbuild("serve", "--out", str(out), "--port", str(port)),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}", server, log, args.start_timeout)
            start_s = time.perf_counter() - t0
            served = [_timed([*ask[:4], q, *ask[4:]], env) for q in questions]
        finally:
            server.terminate()
            server.wait(timeout=30)
    same = [a[1] == s[1] for a, s in zip(alone, served, strict=True)]
    if not all(same):
        raise SystemExit("the server's answers differ from the CLI's own")
    alone_s = [round(t, 2) for t, _ in alone]
    served_s = [round(t, 2) for t, _ in served]
    no_cache_s = [round(t, 2) for t, _ in no_cache]
    transformers_s = [round(t, 2) for t, _ in with_transformers]
    median_transformers = statistics.median(transformers_s)
    median_alone, median_served = statistics.median(alone_s), statistics.median(served_s)
    result: dict[str, Any] = {
        "benchmark": "kgbuild ask from a cold CLI, example graph, CPU",
        "graph": {"corpus": "examples/corpus", "build_s": round(build_s, 1)},
        "questions": questions,
        "alone_s": alone_s,
        "via_serve_s": served_s,
        "alone_no_cache_s": no_cache_s,
        "alone_transformers_classes_s": transformers_s,
        "median_alone_s": median_alone,
        "median_alone_no_cache_s": statistics.median(no_cache_s),
        "median_alone_transformers_classes_s": median_transformers,
        "transformers_classes_over_alone": round(median_transformers / median_alone, 2),
        "median_via_serve_s": median_served,
        "alone_over_via_serve": round(median_alone / median_served, 2),
        "serve_start_s": round(start_s, 1),
        "same_answers": True,
        "target_s": TARGET_S,
        "met": {"alone": median_alone <= TARGET_S, "via_serve": median_served <= TARGET_S},
    }
    _meta.write_result(args.out, result, run)
    work.cleanup()
    print(
        f"cold kgbuild ask: alone {median_alone:.2f} s "
        f"(merging adapters uncached: {statistics.median(no_cache_s):.2f} s, "
        f"transformers' classes: {median_transformers:.2f} s), "
        f"via kgbuild serve {median_served:.2f} s "
        f"(server start {start_s:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
