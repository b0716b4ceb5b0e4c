"""Benchmark: entity resolution within documents on Re-DocRED's gold mentions.

The gold mentions (text and gold type) of Re-DocRED dev documents (the first 100 by
default, ``../shared/data/kg/redocred/dev_revised.json``) go through
:func:`kgbuild.stages.resolve.resolve_mentions` together, as one corpus (so cross-document
merges play their part), and the predicted clusters are compared with the gold entity
clusters (``vertexSet``) within each document:

* pairwise precision, recall and F1 over the pairs of mentions of one document (a pair
  is predicted when both mentions went to one entity, true when they are one gold
  entity); precision is the "merge precision";
* B-cubed precision, recall and F1, averaged over mentions, each mention's predicted
  and gold clusters cut down to its document.

By default NER plays no part: this measures resolution alone. With ``--ner`` the
shipped NER model reads the sentences instead, all its mentions are resolved, and
the scores count the predicted mentions whose span is a gold mention's (types are
the model's): resolution on real NER output, without NER's misses. The result goes to
``bench/results/resolve_redocred.json`` (one entry per ``--label``) with the commit,
machine and command; with ``--errors`` the wrong merges and the missed links are
printed (not stored: they quote the data). To score another version (before/after), put
a checkout of it first on the path: ``PYTHONPATH=/tmp/before .venv/bin/python
bench/bench_resolve_redocred.py --out /tmp/before.json`` after ``git worktree add
/tmp/before <commit>``; the run records which resolver it imported.

Run: ``.venv/bin/python bench/bench_resolve_redocred.py [--docs 100] [--ner] [--contexts]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta

from kgbuild.data import Mention, Provenance, Span
from kgbuild.readers.docred import DocREDDocument, document_text, read_docred
from kgbuild.stages.resolve import ResolveConfig, resolve_mentions

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "kg" / "redocred" / "dev_revised.json"
OUT = REPO / "bench" / "results" / "resolve_redocred.json"
BENCHMARK = "kgbuild.stages.resolve.resolve_mentions on Re-DocRED, within documents"


def gold_mentions(
    docs: Sequence[DocREDDocument], first: int
) -> tuple[list[Mention], dict[str, str], dict[str, str]]:
    """Mentions of the documents' gold entities, with their gold cluster and sentence.

    Returns the mentions (document ``redocred-dev-<index>``, chunk = sentence), the gold
    cluster of each mention id and the text of each chunk id.
    """
    mentions: list[Mention] = []
    gold: dict[str, str] = {}
    sentences: dict[str, str] = {}
    for offset, doc in enumerate(docs):
        doc_id = f"redocred-dev-{first + offset:04d}"
        laid_out = document_text(doc)
        for sent_id, (start, end) in enumerate(laid_out.sentence_offsets):
            sentences[f"{doc_id}-s{sent_id}"] = laid_out.text[start:end]
        for e_index, entity in enumerate(doc.entities):
            spans = laid_out.mention_offsets[e_index]
            for m_index, (mention, (start, end)) in enumerate(
                zip(entity.mentions, spans, strict=True)
            ):
                mention_id = f"{doc_id}-e{e_index}-m{m_index}"
                gold[mention_id] = f"{doc_id}-e{e_index}"
                mentions.append(
                    Mention(
                        id=mention_id,
                        text=laid_out.text[start:end],
                        label=mention.type,
                        provenance=Provenance(
                            doc_id=doc_id,
                            chunk_id=f"{doc_id}-s{mention.sent_id}",
                            span=Span(start=start, end=end),
                            score=1.0,
                            model="gold",
                            model_revision="redocred",
                            run_id="bench",
                            stage="gold",
                        ),
                    )
                )
    return mentions, gold, sentences


def ner_mentions(
    docs: Sequence[DocREDDocument], first: int, gold_mentions: Sequence[Mention]
) -> tuple[list[Mention], dict[str, str]]:
    """The shipped NER model's mentions of the documents, and their gold mention ids.

    Only predicted mentions whose span is a gold mention's have one.
    """
    from kgbuild.config import NerConfig
    from kgbuild.data import Chunk
    from kgbuild.stages.ner import NerStage

    chunks: list[Chunk] = []
    for offset, doc in enumerate(docs):
        doc_id = f"redocred-dev-{first + offset:04d}"
        laid_out = document_text(doc)
        for sent_id, (start, end) in enumerate(laid_out.sentence_offsets):
            chunks.append(
                Chunk(
                    id=f"{doc_id}-s{sent_id}",
                    doc_id=doc_id,
                    index=sent_id,
                    span=Span(start=start, end=end),
                    text=laid_out.text[start:end],
                )
            )
    stage = NerStage(NerConfig(), run_id="bench")
    predicted = stage(chunks, {})
    by_span = {(m.doc_id, m.span.start, m.span.end): m.id for m in gold_mentions}
    return predicted, {
        m.id: by_span[key]
        for m in predicted
        if (key := (m.doc_id, m.span.start, m.span.end)) in by_span
    }


def _pairs(counts: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def scores(
    mentions: Sequence[Mention],
    predicted: dict[str, str],
    gold: dict[str, str],
    *,
    within_documents: bool = True,
) -> dict[str, float]:
    """Pairwise and B-cubed precision, recall and F1 (in percent).

    Within documents (each mention's clusters cut down to its document), or, with
    ``within_documents=False``, over the whole corpus.
    """
    both: Counter[tuple[str, str, str]] = Counter()
    pred: Counter[tuple[str, str]] = Counter()
    true: Counter[tuple[str, str]] = Counter()
    for m in mentions:
        scope = m.doc_id if within_documents else ""
        both[scope, predicted[m.id], gold[m.id]] += 1
        pred[scope, predicted[m.id]] += 1
        true[scope, gold[m.id]] += 1
    n_both, n_pred, n_true = _pairs(both), _pairs(pred), _pairs(true)
    b3_p = b3_r = 0.0
    for m in mentions:
        scope = m.doc_id if within_documents else ""
        shared = both[scope, predicted[m.id], gold[m.id]]
        b3_p += shared / pred[scope, predicted[m.id]]
        b3_r += shared / true[scope, gold[m.id]]
    b3_p, b3_r = b3_p / len(mentions), b3_r / len(mentions)

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    pair_p = n_both / n_pred if n_pred else 1.0
    pair_r = n_both / n_true if n_true else 1.0
    return {
        "pairwise_precision": round(100 * pair_p, 2),
        "pairwise_recall": round(100 * pair_r, 2),
        "pairwise_f1": round(100 * f1(pair_p, pair_r), 2),
        "bcubed_precision": round(100 * b3_p, 2),
        "bcubed_recall": round(100 * b3_r, 2),
        "bcubed_f1": round(100 * f1(b3_p, b3_r), 2),
        "true_pairs": n_true,
        "predicted_pairs": n_pred,
        "correct_pairs": n_both,
    }


def print_errors(
    mentions: Sequence[Mention], predicted: dict[str, str], gold: dict[str, str], limit: int
) -> None:
    """Print wrong merges and missed links, one line per distinct pair of surface forms."""
    by_doc: dict[str, list[Mention]] = defaultdict(list)
    for m in mentions:
        by_doc[m.doc_id].append(m)
    wrong: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for doc_mentions in by_doc.values():
        for i, a in enumerate(doc_mentions):
            for b in doc_mentions[i + 1 :]:
                same_pred = predicted[a.id] == predicted[b.id]
                same_gold = gold[a.id] == gold[b.id]
                if same_pred == same_gold:
                    continue
                pair = " | ".join(sorted((f"{a.text} [{a.label}]", f"{b.text} [{b.label}]")))
                (wrong if same_pred else missed)[f"{a.doc_id}: {pair}"] += 1
    for title, found in (("wrong merges", wrong), ("missed links", missed)):
        print(f"-- {title}: {sum(found.values())} pairs, {len(found)} distinct")
        for line, count in found.most_common(limit):
            print(f"  {count:>3}  {line}")


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "kgbuild"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def resolver_in_use() -> str:
    """The resolver that runs: this checkout's, or the folder of one put first on the path."""
    package = Path(sys.modules[resolve_mentions.__module__].__file__ or "").resolve().parent
    if package == REPO / "kgbuild" / "stages" / "resolve":
        return "kgbuild.stages.resolve"
    return str(package)


def main(argv: list[str] | None = None) -> int:
    """Resolve the mentions, score them within documents, add the run to the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--first", type=int, default=0, help="index of the first document")
    parser.add_argument("--docs", type=int, default=100, help="number of documents")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--label", help="the run's key in the JSON (default: gold or ner)")
    parser.add_argument("--errors", type=int, default=0, help="print this many errors of each kind")
    parser.add_argument(
        "--contexts", action="store_true", help="use sentence context similarity (MiniLM)"
    )
    parser.add_argument("--ner", action="store_true", help="resolve the NER model's mentions")
    args = parser.parse_args(argv)

    docs = read_docred(args.data)[args.first : args.first + args.docs]
    mentions, gold, sentences = gold_mentions(docs, args.first)
    scored = mentions
    if args.ner:
        mentions, matched = ner_mentions(docs, args.first, mentions)
        gold_of = gold
        gold = {m: gold_of[g] for m, g in matched.items()}
        scored = [m for m in mentions if m.id in gold]
    meta_run = _meta.start()
    started = time.perf_counter()
    if args.contexts:
        config = ResolveConfig(context_similarity=True)
        result = resolve_mentions(mentions, config, sentences=sentences)
    else:
        result = resolve_mentions(mentions)
    seconds = time.perf_counter() - started
    found = scores(scored, result.mention_to_entity, gold)
    for key, value in found.items():
        print(f"{key:>20}: {value}")
    if args.errors:
        print_errors(scored, result.mention_to_entity, gold, args.errors)

    run = {
        "data": f"{args.data.name} documents {args.first}-{args.first + len(docs) - 1}",
        "documents": len(docs),
        "mentions": len(mentions),
        "mentions_scored": len(scored),
        "mentions_from": f"{_default_ner()} (spans matching gold)" if args.ner else "gold",
        "gold_entities": len(set(gold.values())),
        "predicted_entities": len(result.entities),
        "context_similarity": args.contexts,
        "resolver": resolver_in_use(),
        "scores": found,
        "seconds": round(seconds, 3),
        "commit": _commit(),
        "command": " ".join(["python", "bench/bench_resolve_redocred.py", *(argv or sys.argv[1:])]),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    report: dict[str, Any] = {"benchmark": BENCHMARK, "runs": {}}
    if args.out.exists():
        report = json.loads(args.out.read_text(encoding="utf-8"))
    report["runs"][args.label or ("ner" if args.ner else "gold")] = run
    report.pop("meta", None)  # the file's meta: the run that wrote it last (each run has its own)
    _meta.write_result(args.out, report, meta_run)
    return 0


def _default_ner() -> str:
    from kgbuild.config import NerConfig
    from kgbuild.models import resolve_task_model

    return Path(resolve_task_model("ner", NerConfig().model)).name


if __name__ == "__main__":
    raise SystemExit(main())
