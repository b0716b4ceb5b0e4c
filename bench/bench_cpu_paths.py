"""Is an int8 or ONNX Runtime CPU path worth keeping? The NER stage under each, in one run.

The shipped NER stage (``precision: auto``: bf16 autocast with bf16-stored linears where
the CPU has bf16 kernels, else fp32) against the same stage with its model swapped for:

* ``torch_fp32``: the model in fp32 (``precision: fp32``);
* ``torch_int8_dynamic``: ``torch.ao.quantization.quantize_dynamic`` with per-channel int8
  weights on every ``nn.Linear`` (activations quantised per batch at run time);
* ``onnxruntime_fp32``: the model exported to ONNX (opset 17), run by ONNX Runtime's CPU
  provider with all graph optimisations;
* ``onnxruntime_int8``: that graph after ``onnxruntime.quantization.quantize_dynamic``
  (per-channel int8 weights).

The ONNX rows need ``pip install -e ".[onnx]"`` (pinned in pyproject.toml); without it
they are skipped and the result says so. Everything else (spaCy words, the one
fast-tokenizer call, length-sorted batches, the vectorised decoder) is the stage's own
code, so the figures are whole-stage sentences/s, not bare forward passes. Rounds are
interleaved with the order rotating; each figure is the median round; entity F1 against
the gold spans comes from the first round. The issue's rule (issue 17, item 7): keep a
path only if it is >= 1.5x the shipped stage with F1 within 0.3 points; ``keep`` records
that verdict for each row.

Usage: python bench/bench_cpu_paths.py [--model default] [--sentences 1000] [--rounds 3]
       [--out bench/results/cpu_paths.json]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _meta
import torch
from bench_ner import SpanSet, f1, gold_spans, ner_bench_parser, timed

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Span
from kgbuild.models import resolve_task_model
from kgbuild.readers.conll import iter_conll_documents
from kgbuild.stages.ner import NerStage

SHIPPED = "shipped"
MIN_SPEEDUP = 1.5
MAX_F1_DROP = 0.3  # points


class OnnxTokenClassifier:
    """An ONNX Runtime session behind the ``model(input_ids=..., attention_mask=...)`` call."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(None, feeds)[0]))


class _Logits(torch.nn.Module):
    """The token classifier with plain tensor inputs and outputs, for the ONNX export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def onnx_models(model: torch.nn.Module, folder: Path) -> dict[str, Any] | str:
    """ONNX Runtime fp32 and int8 versions of ``model``, or why there are none."""
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        return f"onnxruntime not installed ({error}); pip install -e '.[onnx]'"
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        _Logits(model).eval(),
        (sample, sample),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": 1},  # FLOAT, where shape inference has no type
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return {
        name: OnnxTokenClassifier(
            onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        )
        for name, path in (("onnxruntime_fp32", fp32), ("onnxruntime_int8", int8))
    }


def parse_args() -> argparse.Namespace:
    return ner_bench_parser(__doc__, "bench/results/cpu_paths.json").parse_args()


def main() -> None:
    args = parse_args()
    tagged = [s for doc in iter_conll_documents(args.data) for s in doc][: args.sentences]
    sentences = [" ".join(s.tokens) for s in tagged]
    gold = [gold_spans(s.tokens, s.tags) for s in tagged]
    chunks = [
        Chunk(id=f"c{n}", doc_id=f"d{n}", index=0, span=Span(start=0, end=len(t)), text=t)
        for n, t in enumerate(sentences)
    ]
    model = resolve_task_model("ner", args.model)
    shipped = NerStage(NerConfig(model=model, batch_size=32), run_id="bench")
    fp32 = NerStage(NerConfig(model=model, batch_size=32, precision="fp32"), run_id="bench")
    stages: dict[str, NerStage] = {SHIPPED: shipped, "torch_fp32": fp32}

    def swapped(replacement: Any) -> NerStage:
        stage = copy.copy(fp32)
        stage.loaded = dataclasses.replace(fp32.loaded, model=replacement)
        return stage

    stages["torch_int8_dynamic"] = swapped(
        torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(fp32.loaded.model),
            {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
        )
    )
    workdir = tempfile.TemporaryDirectory(prefix="kgbuild-onnx-")
    onnx = onnx_models(fp32.loaded.model, Path(workdir.name))
    if isinstance(onnx, dict):
        stages.update({name: swapped(session) for name, session in onnx.items()})
    else:
        print(f"skipping the ONNX Runtime rows: {onnx}")

    def spans_of(stage: NerStage) -> Callable[[], list[SpanSet]]:
        def work() -> list[SpanSet]:
            found: list[SpanSet] = [set() for _ in sentences]
            for m in stage(chunks, {}):
                found[int(m.provenance.chunk_id[1:])].add((m.span.start, m.span.end, m.label))
            return found

        return work

    work = {name: spans_of(stage) for name, stage in stages.items()}
    for name in work:
        stage = stages[name]
        stage(chunks[:64], {})  # warm-up, outside the timings

    run = _meta.start()
    names = list(work)
    spans: dict[str, list[SpanSet]] = {}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            found, seconds, _ = timed(work[name])
            spans.setdefault(name, found)
            wall[name].append(seconds)
            print(f"round {round_index + 1}: {name:20s} {len(sentences) / seconds:8.1f} sent/s")

    n = len(sentences)
    median = {name: statistics.median(wall[name]) for name in names}
    scores = {name: 100 * f1(gold, spans[name]) for name in names}
    paths: dict[str, dict[str, Any]] = {}
    for name in names:
        speedup = median[SHIPPED] / median[name]
        drop = scores[SHIPPED] - scores[name]
        paths[name] = {
            "sentences_per_second": n / median[name],
            "wall_seconds": wall[name],
            "speedup_vs_shipped": speedup,
            "entity_f1": scores[name],
            "f1_drop_vs_shipped": drop,
            "same_spans_as_shipped": sum(map(set.__eq__, spans[SHIPPED], spans[name])) / n,
            "keep": name != SHIPPED and speedup >= MIN_SPEEDUP and drop <= MAX_F1_DROP,
        }
    result: dict[str, Any] = {
        "benchmark": "NER stage: shipped precision vs int8 and ONNX Runtime CPU paths",
        "sentences": n,
        "data": "CoNLL-2003 dev (first sentences), each sentence alone",
        "model": shipped.loaded.name,
        "model_revision": shipped.loaded.revision,
        "shipped_precision": "bf16" if shipped.bf16 else "fp32",
        "rule": f"keep if >= {MIN_SPEEDUP}x the shipped stage and F1 within {MAX_F1_DROP}",
        "onnx": "measured" if isinstance(onnx, dict) else onnx,
        "batch_size": 32,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "paths": paths,
        "kept": [name for name, row in paths.items() if row["keep"]],
    }
    _meta.write_result(args.out, result, run)
    workdir.cleanup()
    for name, row in paths.items():
        print(
            f"{name:20s} {row['sentences_per_second']:8.1f} sent/s  "
            f"{row['speedup_vs_shipped']:.2f}x  F1 {row['entity_f1']:.2f} "
            f"({-row['f1_drop_vs_shipped']:+.2f})  keep={row['keep']}"
        )


if __name__ == "__main__":
    main()
