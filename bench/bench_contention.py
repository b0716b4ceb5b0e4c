"""Whole builds on a quiet machine and beside a busy process: how torch's waiting threads act.

torch's CPU threads (GNU OpenMP) spin up to 300,000 times waiting for work before they sleep
(libgomp's default, ``GOMP_SPINCOUNT=300000``). kgbuild sets ``GOMP_SPINCOUNT=10000``
when neither it nor ``OMP_WAIT_POLICY`` is set (``kgbuild/__init__.py``): waiting threads
sleep soon. This measures both, each way:

- ``quiet``: nothing else runs;
- ``busy``: one other process keeps a core busy (a pure-Python loop, as a second build, a
  browser or another Prefect task would), started before the build and stopped after it.

Each build is ``bench_build.py``'s child (Re-DocRED dev documents read from ../shared,
every default stage on: NER, relations, attributes; models loaded in the process), in its
own process; rounds are interleaved (quiet/busy x libgomp default/kgbuild's setting) and
the median round of each arm is reported, with every round kept, and the NER-only build
beside it on the quiet machine so that the 2x line of the whole-build target can be read
with the policy in force.

Usage: python bench/bench_contention.py [--documents 0:100] [--rounds 3] [--out bench/results/contention.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta
from bench_build import write_corpus

BUILD = Path(__file__).resolve().parent / "bench_build.py"
POLICIES = {
    "libgomp_default": {"GOMP_SPINCOUNT": "300000"},
    "kgbuild": {},
}
"""The environment each arm adds. ``GOMP_SPINCOUNT`` set keeps kgbuild from choosing."""
BUSY_LOOP = "while True: pass"


def build_once(config: str, corpus: Path, out: Path, policy: str) -> dict[str, Any]:
    """One ``bench_build.py --child`` build with ``policy``'s environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(POLICIES[policy])
    done = subprocess.run(
        [
            sys.executable,
            str(BUILD),
            *("--child", config, "--corpus", str(corpus), "--build-out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def what_kgbuild_sets() -> dict[str, str | None]:
    """``GOMP_SPINCOUNT`` and ``OMP_WAIT_POLICY`` after ``import kgbuild``, neither set before."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = (
        "import json, os, kgbuild; "
        "print(json.dumps({k: os.environ.get(k) for k in ('GOMP_SPINCOUNT', 'OMP_WAIT_POLICY')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    found: dict[str, str | None] = json.loads(done.stdout)
    return found


def measure(config: str, corpus: Path, out: Path, policy: str, load: str) -> dict[str, Any]:
    """A build under ``load`` (``quiet`` or ``busy``): its seconds and sentences/s."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if load == "busy" else None
    try:
        measured = build_once(config, corpus, out, policy)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {
        "config": config,
        "policy": policy,
        "load": load,
        "seconds": measured["seconds"],
        "extraction_seconds": measured["extraction_seconds"],
        "sentences_per_second": measured["sentences_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", default="0:100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/contention.json"))
    args = parser.parse_args()
    measurement = _meta.start()
    arms = [("ner", policy, "quiet") for policy in POLICIES] + [
        ("ner+relations+attributes", policy, load)
        for load in ("quiet", "busy")
        for policy in POLICIES
    ]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kgbuild-bench-contention-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        n = write_corpus(corpus, args.documents)
        for number in range(args.rounds):
            for config, policy, load in arms:
                out = Path(tmp) / f"out-{config}-{policy}-{load}-{number}"
                row = measure(config, corpus, out, policy, load) | {"round": number}
                rounds.append(row)
                print(
                    f"{config:>26} {policy:>15} {load:>5}: {row['seconds']:6.1f} s "
                    f"({row['sentences_per_second']:.1f} sentences/s)",
                    flush=True,
                )
    median = {
        f"{config}|{policy}|{load}": statistics.median(
            r["seconds"]
            for r in rounds
            if (r["config"], r["policy"], r["load"]) == (config, policy, load)
        )
        for config, policy, load in arms
    }
    full = "ner+relations+attributes"
    result = {
        "benchmark": "bench_contention",
        "data": f"Re-DocRED dev documents {args.documents} ({n} documents)",
        "busy_load": f"one other process: python -c {BUSY_LOOP!r}",
        "policies": POLICIES | {"kgbuild": what_kgbuild_sets()},
        "median_seconds": median,
        "busy_over_quiet": {
            policy: median[f"{full}|{policy}|busy"] / median[f"{full}|{policy}|quiet"]
            for policy in POLICIES
        },
        "kgbuild_over_libgomp_default": {
            load: median[f"{full}|kgbuild|{load}"] / median[f"{full}|libgomp_default|{load}"]
            for load in ("quiet", "busy")
        },
        "every_default_stage_over_ner_only": {
            policy: median[f"{full}|{policy}|quiet"] / median[f"ner|{policy}|quiet"]
            for policy in POLICIES
        },
        "rounds": rounds,
    }
    _meta.write_result(args.out, result, measurement)
    for key, seconds in median.items():
        print(f"median {key}: {seconds:.2f} s")
    print(json.dumps({k: result[k] for k in list(result)[4:7]}, indent=1))


if __name__ == "__main__":
    main()
