"""NER-stage throughput against transformers pipelines, in one run, on the same model.

Sentences/second over N CoNLL-2003 dev sentences for:
  1. the transformers ``pipeline("token-classification")`` called once per sentence,
  2. the same pipeline with ``batch_size=32``,
  3. kgbuild's NER stage (spaCy words, one fast-tokenizer call, length-sorted batches
     under ``inference_mode``, the whole batch decoded at once).
The three run interleaved, ``--rounds`` times each (the order rotates every round), with
the same torch threads; each method's figure is its median round, wall and CPU time are
both recorded, and the ratios compare medians. Entity F1 against the gold spans, and how
often the methods agree on a sentence's spans, come from the first round.

With ``--documents`` the stage reads the sentences as the pipeline does, as chunks of
their CoNLL documents (a model trained with context then reads each sentence with its
neighbours); without, each sentence is a document of its own.

Usage: python bench/bench_ner.py [--model default] [--sentences 1000] [--rounds 3]
       [--precision auto|fp32|bf16] [--documents] [--out bench/results/ner.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _meta
import torch
from transformers import pipeline

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Span
from kgbuild.models import resolve_task_model
from kgbuild.nlp.hf import load_token_classifier
from kgbuild.readers.conll import iter_conll_documents
from kgbuild.stages.ner import NerStage

DEFAULT_DATA = _meta.REPO.parent / "shared" / "data" / "ner" / "conll2003" / "valid.txt"
SpanSet = set[tuple[int, int, str]]
METHODS = ("pipeline_one_by_one", "pipeline_batched", "kgbuild_stage")


def gold_spans(tokens: tuple[str, ...], tags: tuple[str, ...]) -> SpanSet:
    """Gold entity character spans in the space-joined sentence."""
    spans, offset, current = set(), 0, None
    for token, tag in zip(tokens, tags, strict=True):
        start, end = offset, offset + len(token)
        offset = end + 1
        prefix, _, kind = tag.partition("-")
        if tag == "O" or prefix == "B" or current is None or current[2] != kind:
            if current is not None:
                spans.add(current)
            current = (start, end, kind) if tag != "O" else None
        else:
            current = (current[0], end, kind)
    if current is not None:
        spans.add(current)
    return spans


def f1(gold: list[SpanSet], pred: list[SpanSet]) -> float:
    """Entity-level micro F1 (exact span and type)."""
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    n_gold, n_pred = sum(map(len, gold)), sum(map(len, pred))
    return 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 0.0


def pipeline_spans(output: list[dict[str, Any]], threshold: float) -> SpanSet:
    """The pipeline's entities at or above ``threshold``."""
    return {
        (int(e["start"]), int(e["end"]), str(e["entity_group"]))
        for e in output
        if float(e["score"]) >= threshold
    }


def timed(work: Callable[[], list[SpanSet]]) -> tuple[list[SpanSet], float, float]:
    """Run ``work``; return its spans, wall seconds and process CPU seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    spans = work()
    return spans, time.perf_counter() - wall, time.process_time() - cpu


def ner_bench_parser(description: str | None, out: str) -> argparse.ArgumentParser:
    """The options every NER-stage benchmark takes: model, data, sentences, rounds, out."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(out))
    return parser


def parse_args() -> argparse.Namespace:
    parser = ner_bench_parser(__doc__, "bench/results/ner.json")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument(
        "--documents", action="store_true", help="chunks of their documents, not each alone"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    placed = [
        (d, i, s)
        for d, doc in enumerate(iter_conll_documents(args.data))
        for i, s in enumerate(doc)
    ][: args.sentences]
    tagged = [s for _, _, s in placed]
    sentences = [" ".join(s.tokens) for s in tagged]
    gold = [gold_spans(s.tokens, s.tags) for s in tagged]
    chunks = [
        Chunk(
            id=f"c{n}",
            doc_id=f"d{d}" if args.documents else f"d{n}",
            index=i if args.documents else 0,
            span=Span(start=0, end=len(t)),
            text=t,
        )
        for n, ((d, i, _), t) in enumerate(zip(placed, sentences, strict=True))
    ]
    config = NerConfig(
        model=resolve_task_model("ner", args.model),
        threshold=args.threshold,
        batch_size=32,
        precision=args.precision,
    )
    stage = NerStage(config, run_id="bench")
    # the pipeline runs in fp32: its own copy, not the stage's bf16-stored linears
    # transformers' own model class and tokenizer, as a pipeline user has them
    loaded = load_token_classifier(config.model, device=config.device, plain_bert=False)
    pipe = pipeline(
        "token-classification",
        model=loaded.model,
        tokenizer=loaded.tokenizer,
        aggregation_strategy="first",
        device=loaded.device,
    )

    def kgbuild_stage() -> list[SpanSet]:
        found: list[SpanSet] = [set() for _ in sentences]
        for m in stage(chunks, {}):
            found[int(m.provenance.chunk_id[1:])].add((m.span.start, m.span.end, m.label))
        return found

    work: dict[str, Callable[[], list[SpanSet]]] = {
        "pipeline_one_by_one": lambda: [
            pipeline_spans(pipe(text), args.threshold) for text in sentences
        ],
        "pipeline_batched": lambda: [
            pipeline_spans(out, args.threshold) for out in pipe(sentences, batch_size=32)
        ],
        "kgbuild_stage": kgbuild_stage,
    }
    stage(chunks[:64], {})  # warm-up, outside the timings
    pipe(sentences[:8])
    pipe(sentences[:64], batch_size=32)

    run = _meta.start()
    spans: dict[str, list[SpanSet]] = {}
    wall: dict[str, list[float]] = {name: [] for name in METHODS}
    cpu: dict[str, list[float]] = {name: [] for name in METHODS}
    for round_index in range(args.rounds):
        order = METHODS[round_index % 3 :] + METHODS[: round_index % 3]
        for name in order:
            found, seconds, cpu_seconds = timed(work[name])
            spans.setdefault(name, found)
            if found != spans[name]:
                raise SystemExit(f"{name} found different spans in round {round_index + 1}")
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
            print(
                f"round {round_index + 1}: {name:20s} {len(sentences) / seconds:8.1f} sentences/s"
            )

    n = len(sentences)
    median_wall = {name: statistics.median(wall[name]) for name in METHODS}
    median_cpu = {name: statistics.median(cpu[name]) for name in METHODS}
    single, batched, ours = (spans[name] for name in METHODS)
    result: dict[str, Any] = {
        "benchmark": "NER stage vs transformers token-classification pipeline",
        "sentences": n,
        "data": "CoNLL-2003 dev (first sentences)",
        "chunks": "sentences of their documents" if args.documents else "each sentence alone",
        "model_reads_context": stage.context,
        "model": loaded.name,
        "model_revision": loaded.revision,
        "device": str(loaded.device),
        "precision": "bf16" if stage.bf16 else "fp32",
        "batch_size": config.batch_size,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        **{f"{name}_sps": n / median_wall[name] for name in METHODS},
        **{f"{name}_cpu_sps": n / median_cpu[name] for name in METHODS},
        "speedup_vs_one_by_one": median_wall["pipeline_one_by_one"] / median_wall["kgbuild_stage"],
        "speedup_vs_batched": median_wall["pipeline_batched"] / median_wall["kgbuild_stage"],
        "cpu_speedup_vs_one_by_one": median_cpu["pipeline_one_by_one"]
        / median_cpu["kgbuild_stage"],
        "cpu_speedup_vs_batched": median_cpu["pipeline_batched"] / median_cpu["kgbuild_stage"],
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "f1_vs_gold_pipeline_one_by_one": f1(gold, single),
        "f1_vs_gold_pipeline_batched": f1(gold, batched),
        "f1_vs_gold_kgbuild": f1(gold, ours),
        "same_spans_as_pipeline_batched_vs_single": sum(map(set.__eq__, single, batched)) / n,
        "same_spans_as_pipeline_kgbuild_vs_single": sum(map(set.__eq__, single, ours)) / n,
        "entities_pipeline": sum(map(len, single)),
        "entities_kgbuild": sum(map(len, ours)),
    }
    _meta.write_result(args.out, result, run)
    for name in METHODS:
        print(
            f"{name:20s} {result[f'{name}_sps']:8.1f} sentences/s wall, "
            f"{result[f'{name}_cpu_sps']:8.1f} per CPU second (median of {args.rounds})"
        )
    print(
        f"speed-up: {result['speedup_vs_one_by_one']:.2f}x one-by-one, "
        f"{result['speedup_vs_batched']:.2f}x batched (CPU: "
        f"{result['cpu_speedup_vs_one_by_one']:.2f}x, {result['cpu_speedup_vs_batched']:.2f}x); "
        f"{result['torch_threads']} torch threads, {result['precision']}"
    )
    print(
        f"entity F1 vs gold: pipeline {result['f1_vs_gold_pipeline_one_by_one']:.4f} "
        f"(batched {result['f1_vs_gold_pipeline_batched']:.4f}), "
        f"kgbuild {result['f1_vs_gold_kgbuild']:.4f}"
    )


if __name__ == "__main__":
    main()
