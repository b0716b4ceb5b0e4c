"""NER-stage throughput against transformers pipelines, in one run, on the same model.

Sentences/second over N CoNLL-2003 dev sentences for:
  1. the transformers ``pipeline("token-classification")`` called once per sentence,
  2. the same pipeline with ``batch_size=32``,
  3. kgbuild's NER stage (length-sorted batches, ``inference_mode``, spaCy words).
It also reports how often the three agree on the entity spans.

Usage: python bench/bench_ner.py [--model default] [--sentences 1000] [--out bench/results/ner.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import pipeline

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Span
from kgbuild.models import resolve_task_model
from kgbuild.readers.conll import read_conll
from kgbuild.stages.ner import NerStage

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "ner" / "conll2003" / "valid.txt"
)


def gold_spans(tokens: tuple[str, ...], tags: tuple[str, ...]) -> set[tuple[int, int, str]]:
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


def f1(gold: list[set[tuple[int, int, str]]], pred: list[set[tuple[int, int, str]]]) -> float:
    """Entity-level micro F1 (exact span and type)."""
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    n_gold, n_pred = sum(map(len, gold)), sum(map(len, pred))
    return 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 0.0


def spans_from_pipeline(output: list[dict[str, object]]) -> set[tuple[int, int, str]]:
    return {(int(e["start"]), int(e["end"]), str(e["entity_group"])) for e in output}  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench/results/ner.json"))
    args = parser.parse_args()

    tagged = read_conll(args.data)[: args.sentences]
    sentences = [" ".join(s.tokens) for s in tagged]
    gold = [gold_spans(s.tokens, s.tags) for s in tagged]
    chunks = [
        Chunk(id=f"c{i}", doc_id=f"d{i}", index=0, span=Span(start=0, end=len(t)), text=t)
        for i, t in enumerate(sentences)
    ]
    stage = NerStage(
        NerConfig(
            model=resolve_task_model("ner", args.model),
            threshold=args.threshold,
            batch_size=32,
            precision=args.precision,
        ),
        run_id="bench",
    )
    loaded = stage.loaded
    pipe = pipeline(
        "token-classification",
        model=loaded.model,
        tokenizer=loaded.tokenizer,
        aggregation_strategy="first",
        device=loaded.device,
    )

    def keep(output: list[dict[str, object]]) -> set[tuple[int, int, str]]:
        return {
            s
            for s, e in zip(spans_from_pipeline(output), output, strict=False)
            if float(e["score"]) >= args.threshold
        }  # type: ignore[arg-type]

    # warm-up, outside the timings
    stage(chunks[:32], {})
    pipe(sentences[:8])

    started = time.perf_counter()
    one_by_one = [keep(pipe(text)) for text in sentences]
    t_single = time.perf_counter() - started

    started = time.perf_counter()
    batched = [keep(out) for out in pipe(sentences, batch_size=32)]
    t_batched = time.perf_counter() - started

    started = time.perf_counter()
    mentions = stage(chunks, {})
    t_stage = time.perf_counter() - started
    ours: list[set[tuple[int, int, str]]] = [set() for _ in sentences]
    for m in mentions:
        ours[int(m.doc_id[1:])].add((m.span.start, m.span.end, m.label))

    n = len(sentences)
    agree_batched = sum(a == b for a, b in zip(one_by_one, batched, strict=True)) / n
    agree_ours = sum(a == b for a, b in zip(one_by_one, ours, strict=True)) / n
    result = {
        "sentences": n,
        "model": loaded.name,
        "device": str(loaded.device),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "pipeline_one_by_one_sps": n / t_single,
        "pipeline_batched_sps": n / t_batched,
        "kgbuild_stage_sps": n / t_stage,
        "speedup_vs_one_by_one": t_single / t_stage,
        "speedup_vs_batched": t_batched / t_stage,
        "same_spans_as_pipeline_batched_vs_single": agree_batched,
        "same_spans_as_pipeline_kgbuild_vs_single": agree_ours,
        "precision": "bf16" if stage.bf16 else "fp32",
        "f1_vs_gold_pipeline_one_by_one": f1(gold, one_by_one),
        "f1_vs_gold_pipeline_batched": f1(gold, batched),
        "f1_vs_gold_kgbuild": f1(gold, ours),
        "entities_pipeline": sum(len(s) for s in one_by_one),
        "entities_kgbuild": sum(len(s) for s in ours),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"{'pipeline, one sentence per call':38s} {result['pipeline_one_by_one_sps']:8.1f} sentences/s"
    )
    print(f"{'pipeline, batch_size=32':38s} {result['pipeline_batched_sps']:8.1f} sentences/s")
    print(f"{'kgbuild NER stage':38s} {result['kgbuild_stage_sps']:8.1f} sentences/s")
    print(
        f"entity F1 vs the CoNLL gold spans: pipeline {result['f1_vs_gold_pipeline_one_by_one']:.4f}, "
        f"kgbuild {result['f1_vs_gold_kgbuild']:.4f} ({result['precision']})"
    )
    print(
        f"speed-up: {result['speedup_vs_one_by_one']:.1f}x one-by-one, "
        f"{result['speedup_vs_batched']:.2f}x batched; identical spans on "
        f"{agree_ours:.1%} of sentences ({result['entities_kgbuild']} vs {result['entities_pipeline']} entities)"
    )


if __name__ == "__main__":
    main()
