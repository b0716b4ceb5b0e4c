"""Whole-extraction throughput per stage, and the share of time outside model forward passes.

Runs the pipeline's own stages (chunking, NER, relation extraction, attribute filling)
over the example corpus, repeated to ``--copies`` distinct copies (so that batches are
full), with the default models. For every model stage it reports sentences/second and
the share of the stage's wall time spent outside the model's ``forward`` (measured
with forward hooks: tokenisation, candidate building, decoding, normalisation), and the
same for the whole extraction. Target: under 25% outside forward passes.

Usage: python bench/bench_extraction.py [--copies 4] [--out bench/results/extraction.json]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _meta
import torch

from kgbuild.config import AttributeConfig, NerConfig, ReConfig, Settings
from kgbuild.data import Document
from kgbuild.extraction import Extractor
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ingest import read_documents

CORPUS = Path(__file__).resolve().parents[1] / "examples" / "corpus"
T = TypeVar("T")


class ForwardClock:
    """Total seconds spent inside a module's forward (hooks on the top-level module)."""

    def __init__(self, module: Any) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._started = 0.0
        self._handles = [
            module.register_forward_pre_hook(self._pre),
            module.register_forward_hook(self._post),
        ]

    def _pre(self, *_: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._started = time.perf_counter()

    def _post(self, *_: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - self._started
        self.calls += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def run_stage(fn: Callable[[], T], clock: ForwardClock | None) -> tuple[T, float, float]:
    start = time.perf_counter()
    before = clock.seconds if clock else 0.0
    result = fn()
    wall = time.perf_counter() - start
    forward = (clock.seconds - before) if clock else 0.0
    return result, wall, forward


def copies_of(documents: list[Document], copies: int) -> list[Document]:
    out = []
    for n in range(copies):
        for doc in documents:
            text = doc.text if n == 0 else f"{doc.text}\n(copy {n})"
            out.append(doc.model_copy(update={"id": f"{doc.id}#{n}", "text": text}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--ner-model", default="default")
    parser.add_argument("--re-model", default="default")
    parser.add_argument("--qa-model", default="default")
    parser.add_argument("--out", type=Path, default=Path("bench/results/extraction.json"))
    args = parser.parse_args()

    settings = Settings(
        ner=NerConfig(model=args.ner_model),
        relations=ReConfig(enabled=True, model=args.re_model),
        attributes=AttributeConfig(enabled=True, model=args.qa_model),
    )
    documents = copies_of(
        list(read_documents([str(CORPUS)], settings.ingest).documents), args.copies
    )
    extractor = Extractor(settings, run_id="bench")
    assert extractor.relations is not None and extractor.attributes is not None
    assert extractor.attributes.reader is not None
    clocks = {
        "ner": ForwardClock(extractor.ner.loaded.model),
        "relations": ForwardClock(extractor.relations.loaded.model),
        "attributes": ForwardClock(extractor.attributes.reader.loaded.model),
    }
    langs = {doc.id: doc.lang for doc in documents}

    # Warm-up on a few documents (first calls allocate and compile kernels).
    warm = documents[:3]
    warm_chunks = [c for d in warm for c in chunk_document(d, settings.chunking)]
    warm_mentions = extractor.ner(warm_chunks, langs)
    extractor.relations(warm_chunks, warm_mentions)
    extractor.attributes(warm_chunks, warm_mentions, langs)
    for clock in clocks.values():
        clock.seconds, clock.calls = 0.0, 0

    run = _meta.start()
    chunks, chunk_wall, _ = run_stage(
        lambda: [c for d in documents for c in chunk_document(d, settings.chunking)], None
    )
    mentions, ner_wall, ner_fwd = run_stage(lambda: extractor.ner(chunks, langs), clocks["ner"])
    relations, re_wall, re_fwd = run_stage(
        lambda: extractor.relations(chunks, mentions),
        clocks["relations"],  # type: ignore[misc]
    )
    attributes, attr_wall, attr_fwd = run_stage(
        lambda: extractor.attributes(chunks, mentions, langs),
        clocks["attributes"],  # type: ignore[misc]
    )
    sentences = len(chunks)

    def stage(wall: float, forward: float, clock: ForwardClock | None) -> dict[str, Any]:
        return {
            "seconds": wall,
            "sentences_per_second": sentences / wall if wall else None,
            "forward_seconds": forward,
            "forward_calls": clock.calls if clock else 0,
            "share_outside_forward": 1 - forward / wall if wall else None,
        }

    total_wall = chunk_wall + ner_wall + re_wall + attr_wall
    total_forward = ner_fwd + re_fwd + attr_fwd
    result = {
        "documents": len(documents),
        "sentences": sentences,
        "mentions": len(mentions),
        "relations": len(relations),
        "attributes": len(attributes),
        "models": {
            "ner": extractor.ner.loaded.name,
            "relations": extractor.relations.loaded.name,
            "attributes": extractor.attributes.reader.name,
        },
        "device": str(extractor.ner.loaded.device),
        "torch_threads": torch.get_num_threads(),
        "stages": {
            "chunking": stage(chunk_wall, 0.0, None),
            "ner": stage(ner_wall, ner_fwd, clocks["ner"]),
            "relations": stage(re_wall, re_fwd, clocks["relations"]),
            "attributes": stage(attr_wall, attr_fwd, clocks["attributes"]),
        },
        "whole_extraction": {
            "seconds": total_wall,
            "sentences_per_second": sentences / total_wall,
            "share_outside_forward": 1 - total_forward / total_wall,
            "target_share_outside_forward": 0.25,
        },
    }
    _meta.write_result(args.out, result, run)
    for name, numbers in result["stages"].items():
        share = numbers["share_outside_forward"]
        print(
            f"{name:>10}: {numbers['sentences_per_second']:8.1f} sentences/s, "
            f"{numbers['seconds']:6.2f} s"
            + (f", {100 * share:4.1f}% outside forward" if name != "chunking" else "")
        )
    whole = result["whole_extraction"]
    print(
        f"     whole: {whole['sentences_per_second']:8.1f} sentences/s, {whole['seconds']:6.2f} s, "
        f"{100 * whole['share_outside_forward']:4.1f}% outside forward (target < 25%)"
    )


if __name__ == "__main__":
    main()
