"""Whole builds of real documents with each stage switched on in turn, in one run.

Re-DocRED dev documents (Wikipedia abstracts, read from ../shared; their tokens joined by
spaces are written as .txt files into a temporary folder) are built by ``kgbuild.build``
four ways, each in its own process (fresh ledger and output folder, models loaded
there, peak memory of that process):

1. NER only (the library defaults);
2. NER + relations (the default relation model);
3. NER + relations + attributes;
4. NER + 10 relation types read by question template (zero-shot, relations off; the QA
   model of ``$KGBUILD_BENCH_QA`` or the default one): the target is at most 2x (1).

For each: whole-build seconds and sentences/s (model loading, ingest, ledger, resolution and
exports included), extraction seconds (the model stages alone) and the share of extraction
time outside model forward passes (forward hooks on every model, the sentence encoders that
rank contexts and weight answers included; for the document relation model, its encoder:
its pair layers score many windows' pairs together outside the model's forward, so they
count as outside), peak RSS. The transformers
``pipeline("token-classification", batch_size=32)`` over the same sentences with the same
NER model is the baseline. Rounds are interleaved (1 2 3 1 2 3 ...) and the best of each
configuration is reported, with every round kept in the result file, and beside it the
median round (``median_*``: best-of picks the quietest moment of a shared machine).

Usage: python bench/bench_build.py [--documents 0:100] [--rounds 2] [--out bench/results/build.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "kg" / "redocred" / "dev_revised.json"
)
CONFIGS = {
    "ner": {},
    "ner+relations": {"relations": True},
    "ner+relations+attributes": {"relations": True, "attributes": True},
    "ner+templates": {"templates": True},
}
ZERO_SHOT_TYPES = (
    "DIRECTOR",
    "AUTHOR",
    "PUBLISHER",
    "CAST_MEMBER",
    "FOUNDED_BY",
    "EMPLOYER",
    "RECORD_LABEL",
    "SCREENWRITER",
    "PRODUCER",
    "MEMBER_OF_SPORTS_TEAM",
)
"""The templated types of ``ner+templates``: read by the QA model with relations off."""


def write_corpus(folder: Path, documents: str) -> int:
    """Write the chosen Re-DocRED documents as .txt files; return how many."""
    records = json.loads(DATA.read_text(encoding="utf-8"))
    start, _, end = documents.partition(":")
    chosen = records[int(start or 0) : int(end) if end else None]
    for index, record in enumerate(chosen):
        text = " ".join(" ".join(sentence) for sentence in record["sents"])
        (folder / f"doc{index:04d}.txt").write_text(text + "\n", encoding="utf-8")
    return len(chosen)


class ForwardClock:
    """Total seconds spent inside a module's forward (hooks on the top-level module)."""

    def __init__(self, module: Any) -> None:
        import torch

        self._synchronize = torch.cuda.synchronize if torch.cuda.is_available() else None
        self.seconds = 0.0
        self.calls = 0
        self._started = 0.0
        self._handles = [
            module.register_forward_pre_hook(self._pre),
            module.register_forward_hook(self._post),
        ]

    def _pre(self, *_: Any) -> None:
        if self._synchronize is not None:
            self._synchronize()
        self._started = time.perf_counter()

    def _post(self, *_: Any) -> None:
        if self._synchronize is not None:
            self._synchronize()
        self.seconds += time.perf_counter() - self._started
        self.calls += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def child(config: str, corpus: Path, out: Path) -> dict[str, Any]:
    """One build in this process: timings, forward share, sentences, peak RSS."""
    from kgbuild.config import AttributeConfig, ReConfig, Settings, TemplateConfig
    from kgbuild.extraction import Extractor
    from kgbuild.pipeline import build

    options = CONFIGS[config]
    settings = Settings(
        out_dir=out,
        relations=ReConfig(enabled=bool(options.get("relations"))),
        attributes=AttributeConfig(enabled=bool(options.get("attributes"))),
        templates=TemplateConfig(
            enabled=bool(options.get("templates")),
            types=ZERO_SHOT_TYPES if options.get("templates") else (),
            **(
                {"model": os.environ["KGBUILD_BENCH_QA"]}
                if "KGBUILD_BENCH_QA" in os.environ
                else {}
            ),
        ),
    )
    clocks: list[ForwardClock] = []
    original_init = Extractor.__init__

    def instrumented(self: Extractor, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        clocks.append(ForwardClock(self.ner.loaded.model))
        if self.relations is not None:
            relation_model = self.relations.loaded.model
            clocks.append(ForwardClock(getattr(relation_model, "encoder", relation_model)))
        if self.attributes is not None and self.attributes.reading is not None:
            clocks.append(ForwardClock(self.attributes.reading.reader.loaded.model))
        if self.templates is not None:
            clocks.append(ForwardClock(self.templates.reading.reader.loaded.model))

    extraction = [0.0]
    original_call = Extractor.__call__

    def timed(self: Extractor, documents: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_call(self, documents)
        finally:
            extraction[0] += time.perf_counter() - started

    from kgbuild.nlp.sentence_encoder import SentenceEncoder

    original_encoder_init = SentenceEncoder.__init__

    def encoder_instrumented(self: SentenceEncoder, *args: Any, **kwargs: Any) -> None:
        # the sentence encoders that rank contexts and weight answers run forward passes too
        original_encoder_init(self, *args, **kwargs)
        clocks.append(ForwardClock(self.model))

    SentenceEncoder.__init__ = encoder_instrumented  # type: ignore[method-assign]
    Extractor.__init__ = instrumented  # type: ignore[method-assign]
    Extractor.__call__ = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    report = build([str(corpus)], settings)
    seconds = time.perf_counter() - started
    forward = sum(clock.seconds for clock in clocks)
    return {
        "config": config,
        "seconds": seconds,
        "sentences": report.chunks,
        "sentences_per_second": report.chunks / seconds,
        "extraction_seconds": extraction[0],
        "extraction_sentences_per_second": report.chunks / extraction[0] if extraction[0] else None,
        "forward_seconds": forward,
        "share_outside_forward": 1 - forward / extraction[0] if extraction[0] else None,
        "mentions": report.mentions,
        "entities": report.entities,
        "relations": report.relations,
        "attributes": report.attributes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def pipeline_baseline(corpus: Path) -> dict[str, Any]:
    """The transformers token-classification pipeline (batch 32) over the same sentences."""
    from transformers import pipeline

    from kgbuild.config import Settings
    from kgbuild.models import resolve_task_model
    from kgbuild.nlp.hf import load_token_classifier
    from kgbuild.stages.chunking import chunk_document
    from kgbuild.stages.ingest import read_documents

    settings = Settings()
    documents = read_documents([str(corpus)], settings.ingest).documents
    sentences = [c.text for d in documents for c in chunk_document(d, settings.chunking)]
    # transformers' own model class and tokenizer, as a pipeline user has them
    loaded = load_token_classifier(resolve_task_model("ner", "default"), plain_bert=False)
    tagger = pipeline(
        "token-classification",
        model=loaded.model,
        tokenizer=loaded.tokenizer,
        aggregation_strategy="first",
        device=-1,
    )
    tagger(sentences[:8], batch_size=8)
    started = time.perf_counter()
    tagger(sentences, batch_size=32)
    seconds = time.perf_counter() - started
    return {
        "sentences": len(sentences),
        "seconds": seconds,
        "sentences_per_second": len(sentences) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", default="0:100")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results/build.json"))
    parser.add_argument("--child", choices=sorted(CONFIGS))
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--build-out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.corpus, args.build_out)))
        return
    measurement = _meta.start()
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kgbuild-bench-build-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        n = write_corpus(corpus, args.documents)
        for round_number in range(args.rounds):
            for config in CONFIGS:
                out = Path(tmp) / f"out-{config}-{round_number}"
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        config,
                        "--corpus",
                        str(corpus),
                        "--build-out",
                        str(out),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                measured = json.loads(done.stdout.strip().splitlines()[-1])
                measured["round"] = round_number
                rounds.append(measured)
                print(
                    f"{config:>26}: {measured['seconds']:6.1f} s, "
                    f"{measured['sentences_per_second']:6.1f} sentences/s, "
                    f"extraction {measured['extraction_seconds']:6.1f} s "
                    f"({100 * measured['share_outside_forward']:4.1f}% outside forward), "
                    f"{measured['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        baseline = pipeline_baseline(corpus)
    best = {
        c: min((r for r in rounds if r["config"] == c), key=lambda r: r["seconds"]) for c in CONFIGS
    }
    ner_seconds = best["ner"]["seconds"]
    # best-of picks a quiet moment; the median round shows what a typical run costs
    median = {
        c: statistics.median(r["seconds"] for r in rounds if r["config"] == c) for c in CONFIGS
    }
    result = {
        "benchmark": "bench_build",
        "data": f"Re-DocRED dev documents {args.documents} ({n} documents)",
        "best": best,
        "cost_vs_ner_only": {c: best[c]["seconds"] / ner_seconds for c in CONFIGS},
        "median_seconds": median,
        "median_sentences_per_second": {c: best[c]["sentences"] / median[c] for c in CONFIGS},
        "median_cost_vs_ner_only": {c: median[c] / median["ner"] for c in CONFIGS},
        "extraction_cost_vs_ner_only": {
            c: best[c]["extraction_seconds"] / best["ner"]["extraction_seconds"] for c in CONFIGS
        },
        "transformers_pipeline_ner_batched": baseline,
        "rounds": rounds,
    }
    _meta.write_result(args.out, result, measurement)
    for config, ratio in result["cost_vs_ner_only"].items():
        print(
            f"{config:>26}: {ratio:.2f}x the NER-only build "
            f"(median rounds: {result['median_cost_vs_ner_only'][config]:.2f}x)"
        )
    print(
        f"transformers pipeline NER (batch 32): {baseline['sentences_per_second']:.1f} sentences/s"
    )


if __name__ == "__main__":
    main()
