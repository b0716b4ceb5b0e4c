"""Benchmark: entity resolution across documents, scored against Wikidata ids (FewRel).

Re-DocRED annotates entities within each document only, so it cannot tell a wrong merge
across documents ("Henry VI" with "Henry VII", "Val Baker" with "Val Barker"). FewRel
(``../shared/data/re/fewrel/val_wiki.json``, MIT) marks in each of its 11,200 sentences a
head and a tail with their Wikidata id. Each sentence is read as its own document (the
tokens joined by spaces); the shipped NER model reads them all, every predicted mention goes
through :func:`kgbuild.stages.resolve.resolve_mentions` as one corpus, and the predicted
mentions whose span is a marked head or tail are scored, their gold entity being its
Wikidata id:

* pairwise precision ("merge precision"), recall and F1 over all pairs of scored mentions
  in the corpus (a pair is predicted when both went to one entity, true when they share an
  id); most pairs are across documents;
* B-cubed precision, recall and F1 over the scored mentions;
* the distinct pairs of surface forms merged against their ids (``wrong_name_pairs``),
  which is what a user sees as wrong merges.

The result goes to ``bench/results/resolve_fewrel.json`` (one entry per ``--label``) with
the commit, machine and command; ``--errors N`` prints wrong merges and missed links (not
stored: they quote the data). ``--mentions-cache FILE`` keeps the NER output between runs
of a rule change (the scores do not depend on it being fresh unless the NER model changed).
To score another version of the resolver, put a checkout of it first on the path
(``PYTHONPATH=/tmp/before``, after ``git worktree add /tmp/before <commit>``); the run
records which resolver it imported.

Run: ``.venv/bin/python bench/bench_resolve_fewrel.py [--per-relation 700]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta
from bench_resolve_redocred import resolver_in_use, scores

from kgbuild.data import Chunk, Mention, Span
from kgbuild.stages.resolve import resolve_mentions

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "re" / "fewrel" / "val_wiki.json"
OUT = REPO / "bench" / "results" / "resolve_fewrel.json"
BENCHMARK = "kgbuild.stages.resolve.resolve_mentions on FewRel sentences, across documents"

GoldSpans = dict[tuple[str, int, int], str]


def sentences(path: Path, per_relation: int) -> tuple[list[Chunk], GoldSpans]:
    """One chunk per FewRel sentence (its own document) and the Wikidata id of each marked span."""
    data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    chunks: list[Chunk] = []
    gold: GoldSpans = {}
    for relation in sorted(data):
        for index, item in enumerate(data[relation][:per_relation]):
            doc_id = f"fewrel-{relation}-{index:03d}"
            tokens: list[str] = item["tokens"]
            starts, text = [], ""
            for token in tokens:
                starts.append(len(text) + (1 if text else 0))
                text = f"{text} {token}" if text else token
            for _name, wikidata_id, occurrences in (item["h"], item["t"]):
                positions = occurrences[0]
                start = starts[positions[0]]
                end = starts[positions[-1]] + len(tokens[positions[-1]])
                gold[(doc_id, start, end)] = wikidata_id
            chunks.append(
                Chunk(
                    id=f"{doc_id}-s0",
                    doc_id=doc_id,
                    index=0,
                    span=Span(start=0, end=len(text)),
                    text=text,
                )
            )
    return chunks, gold


def ner_mentions(chunks: Sequence[Chunk], cache: Path | None) -> list[Mention]:
    """The shipped NER model's mentions of ``chunks`` (read from ``cache`` when it holds them)."""
    if cache is not None and cache.exists():
        found: list[Mention] = pickle.loads(cache.read_bytes())
        if {m.doc_id for m in found} <= {c.doc_id for c in chunks}:
            return found
    from kgbuild.config import NerConfig
    from kgbuild.stages.ner import NerStage

    mentions = NerStage(NerConfig(), run_id="bench")(chunks, {})
    if cache is not None:
        cache.write_bytes(pickle.dumps(mentions))
    return mentions


def name_pairs(
    scored: Sequence[Mention], predicted: dict[str, str], gold: dict[str, str]
) -> tuple[Counter[str], Counter[str]]:
    """Distinct surface-form pairs merged against their ids, and those of one id left apart.

    Each count is the number of mention pairs behind the pair of names.
    """
    forms: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for m in scored:
        forms[predicted[m.id], gold[m.id]][f"{m.text} [{m.label}]"] += 1
    by_entity: dict[str, list[Counter[str]]] = defaultdict(list)
    by_id: dict[str, list[Counter[str]]] = defaultdict(list)
    for (entity, wikidata_id), names in forms.items():
        by_entity[entity].append(names)
        by_id[wikidata_id].append(names)
    # groups of one entity hold different ids (wrong), groups of one id other entities (missed)
    return _cross_pairs(by_entity.values()), _cross_pairs(by_id.values())


def _cross_pairs(groups: Iterable[list[Counter[str]]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for members in groups:
        for i, names_a in enumerate(members):
            for names_b in members[i + 1 :]:
                for a, count_a in names_a.items():
                    for b, count_b in names_b.items():
                        if a != b:
                            found[" | ".join(sorted((a, b)))] += count_a * count_b
    return found


def main(argv: list[str] | None = None) -> int:
    """Read FewRel, run NER, resolve, score against the Wikidata ids, add the run to the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-relation", type=int, default=700, help="sentences per relation")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--label", default="ner", help="the run's key in the JSON")
    parser.add_argument("--errors", type=int, default=0, help="print this many errors of each kind")
    parser.add_argument("--mentions-cache", type=Path, help="pickle of the NER output to reuse")
    args = parser.parse_args(argv)

    chunks, gold_spans = sentences(args.data, args.per_relation)
    mentions = ner_mentions(chunks, args.mentions_cache)
    gold = {
        m.id: gold_spans[key]
        for m in mentions
        if (key := (m.doc_id, m.span.start, m.span.end)) in gold_spans
    }
    scored = [m for m in mentions if m.id in gold]
    meta_run = _meta.start()
    started = time.perf_counter()
    result = resolve_mentions(mentions)
    seconds = time.perf_counter() - started
    found: dict[str, Any] = scores(scored, result.mention_to_entity, gold, within_documents=False)
    wrong, missed = name_pairs(scored, result.mention_to_entity, gold)
    found["wrong_name_pairs"] = len(wrong)
    for key, value in found.items():
        print(f"{key:>20}: {value}")
    if args.errors:
        for title, pairs in (("wrong merges", wrong), ("missed links", missed)):
            print(f"-- {title}: {len(pairs)} distinct pairs of names")
            for line, count in pairs.most_common(args.errors):
                print(f"  {count:>5}  {line}")

    run = {
        "data": f"{args.data.name}: {len(chunks):,} sentences, each its own document",
        "marked_spans": len(gold_spans),
        "mentions": len(mentions),
        "mentions_scored": len(scored),
        "mentions_from": "the default NER model (spans matching a marked head or tail)",
        "gold_entities": len(set(gold.values())),
        "predicted_entities": len(result.entities),
        "resolver": resolver_in_use(),
        "command": " ".join(["python", "bench/bench_resolve_fewrel.py", *(argv or sys.argv[1:])]),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "scores": found,
        "seconds": round(seconds, 3),
    }
    report: dict[str, Any] = {"benchmark": BENCHMARK, "runs": {}}
    if args.out.exists():
        report = json.loads(args.out.read_text(encoding="utf-8"))
    report["runs"][args.label] = run
    report.pop("meta", None)  # the file's meta: the run that wrote it last
    _meta.write_result(args.out, report, meta_run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
