"""Benchmark: one long document of real text, every default model stage on.

The document is real Wikipedia text: the 500 Re-DocRED dev abstracts and the SQuAD dev
(part 1) paragraphs, read from ../shared, one paragraph each, separated by blank lines and
repeated in order until the file reaches ``--megabytes`` (about 1.5 MB of distinct text, so
a 5 MB file holds each paragraph three or four times). ``kgbuild build`` runs over it in a
child process (NER, relations and attributes on, as ``make demo``), with its progress log;
the result records wall seconds, sentences, sentences/s, peak memory of the build process
(max RSS), the counts the build reports, and the same for a ``--small`` document built first
(``--megabytes / 10``), so that the ratio shows whether time grows linearly with length.

Targets (issue 17): 5 MB in <= 5 minutes, memory <= 4 GB.

Usage::

    python bench/bench_long_document.py [--megabytes 5] [--out bench/results/long_document.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET_S = 300.0
TARGET_MB = 4096.0


def paragraphs() -> list[str]:
    """Real paragraphs: Re-DocRED dev abstracts, then SQuAD dev contexts (distinct)."""
    out = []
    for record in json.loads((SHARED / "kg" / "redocred" / "dev_revised.json").read_text()):
        out.append(" ".join(" ".join(sentence) for sentence in record["sents"]))
    squad = json.loads((SHARED / "qa" / "squad11" / "dev-v1.1.part1of2.json").read_text())
    seen = set()
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            context = " ".join(paragraph["context"].split())
            if context not in seen:
                seen.add(context)
                out.append(context)
    return out


def write_document(path: Path, megabytes: float) -> tuple[int, int]:
    """Write the document; return its size in bytes and its distinct paragraphs."""
    source = paragraphs()
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    while size < target:
        for paragraph in source:
            parts.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 2
            if size >= target:
                break
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path.stat().st_size, len(source)


def child(document: Path, out: Path) -> dict[str, Any]:
    """Build ``document`` in this process; its figures as a dict."""
    from kgbuild.config import AttributeConfig, ReConfig, Settings
    from kgbuild.pipeline import build

    settings = Settings(
        out_dir=out, relations=ReConfig(enabled=True), attributes=AttributeConfig(enabled=True)
    )
    started = time.perf_counter()
    report = build([str(document)], settings, progress=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 1),
        "sentences": report.chunks,
        "sentences_per_second": round(report.chunks / seconds, 1),
        "mentions": report.mentions,
        "entities": report.entities,
        "relations": report.relations,
        "attributes": report.attributes,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_child(document: Path, out: Path) -> dict[str, Any]:
    """One build in a fresh process (models loaded there); its figures."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(document), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=_meta.RESULTS / "long_document.json")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    work = tempfile.TemporaryDirectory(prefix="kgbuild-long-document-")
    root = Path(work.name)
    sizes = {"small": args.megabytes / 10, "long": args.megabytes}
    documents = {}
    for name, megabytes in sizes.items():
        (root / name).mkdir()
        documents[name] = write_document(root / name / f"{name}.txt", megabytes)
    run = _meta.start()
    builds = {}
    for name in sizes:
        print(f"building the {name} document ({documents[name][0]:,} bytes) ...", flush=True)
        builds[name] = {
            "bytes": documents[name][0],
            **run_child(root / name / f"{name}.txt", root / f"out-{name}"),
        }
        print(json.dumps(builds[name]), flush=True)
    long, small = builds["long"], builds["small"]
    result = {
        "benchmark": "one long document, NER + relations + attributes, CPU",
        "data": "Re-DocRED dev abstracts + SQuAD dev part 1 paragraphs, repeated in order",
        "distinct_paragraphs": documents["long"][1],
        "builds": builds,
        "seconds_per_mb": {
            name: round(b["seconds"] / (b["bytes"] / 1e6), 1) for name, b in builds.items()
        },
        "growth": round((long["seconds"] / long["bytes"]) / (small["seconds"] / small["bytes"]), 2),
        "targets": {"seconds": TARGET_S, "peak_rss_mb": TARGET_MB},
        "met": {
            "seconds": long["seconds"] <= TARGET_S,
            "peak_rss_mb": long["peak_rss_mb"] <= TARGET_MB,
        },
    }
    _meta.write_result(args.out, result, run)
    work.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
