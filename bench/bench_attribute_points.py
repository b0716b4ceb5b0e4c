"""Which ``attributes.min_precision`` to ship: attribute values at each operating point.

The graph evaluation (``kgbuild evaluate graph --attributes``: NER, resolution, relations
at their default point, attributes from the relation model) runs once per point on the
documents that choose it (default Re-DocRED docs 50-99, where the relation model was
calibrated; its weights never saw them) and once per point on the held-out documents
(default 0-49). The chosen point is the laxest one whose stored values on the choosing
documents are right at least ``--target`` of the time ``--z`` standard errors below the
share seen (the Wilson bound, as the relation model's own calibration uses); the
held-out figures are reported for every point, and never used to choose.

Usage: python bench/bench_attribute_points.py [--points 0.9,0.85,0.8,0.7,0.6]
       [--choose 50:100] [--report 0:50] [--out bench/results/attribute_points.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _meta

from kgbuild.cli import app
from kgbuild.nlp.calibration import wilson_lower_bound

DATA = _meta.REPO.parent / "shared" / "data" / "kg" / "redocred" / "dev_revised.json"


def attribute_scores(data: Path, documents: str, point: float, folder: Path) -> dict[str, Any]:
    """The evaluation's ``attributes`` block at ``attributes.min_precision = point``."""
    config = folder / f"attributes-{point:g}.yaml"
    config.write_text(f"attributes:\n  min_precision: {point}\n", encoding="utf-8")
    out = folder / f"scores-{documents.replace(':', '-')}-{point:g}.json"
    app(
        [
            "evaluate", "graph", "--data", str(data), "--documents", documents,
            "--attributes", "--config", str(config), "--json-out", str(out),
        ],
        standalone_mode=False,
    )  # fmt: skip
    attributes: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))["attributes"]
    correct = sum(row["correct"] for row in attributes["per_attribute"].values())
    stored = attributes["stored"]
    return {
        "stored": stored,
        "correct": correct,
        "correct_percent": attributes["correct_percent"],
        "wrong_type": attributes["wrong_type"],
        "per_attribute": {
            name: {key: row[key] for key in ("stored", "correct", "gold")}
            for name, row in attributes["per_attribute"].items()
        },
    }


def lower_bound(correct: int, stored: int, z: float) -> float | None:
    """The Wilson lower bound of ``correct / stored`` (``None`` when nothing was stored)."""
    if not stored:
        return None
    return float(wilson_lower_bound(correct / stored, stored, z))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--points", default="0.9,0.85,0.8,0.7,0.6")
    parser.add_argument("--choose", default="50:100", help="documents that choose the point")
    parser.add_argument("--report", default="0:50", help="held-out documents, reported only")
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--z", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=_meta.RESULTS / "attribute_points.json")
    args = parser.parse_args()
    points = sorted((float(p) for p in args.points.split(",")), reverse=True)
    run = _meta.start()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kgbuild-points-") as folder:
        for point in points:
            choosing = attribute_scores(args.data, args.choose, point, Path(folder))
            bound = lower_bound(choosing["correct"], choosing["stored"], args.z)
            held_out = attribute_scores(args.data, args.report, point, Path(folder))
            rows.append(
                {
                    "min_precision": point,
                    "choosing": choosing,
                    "choosing_lower_bound": bound,
                    "held_out": held_out,
                }
            )
            print(
                f"{point:g}: choosing {choosing['correct']}/{choosing['stored']} "
                f"(bound {bound}), held out {held_out['correct']}/{held_out['stored']}",
                flush=True,
            )
    passing = [
        r["min_precision"]
        for r in rows
        if r["choosing_lower_bound"] is not None and r["choosing_lower_bound"] >= args.target
    ]
    result = {
        "benchmark": "attribute values from the relation model at each attributes.min_precision",
        "data": f"{args.data.name}: choose on documents {args.choose}, report {args.report}",
        "rule": (
            f"laxest point whose values on {args.choose} are right >= {args.target:.0%} "
            f"{args.z:g} standard error(s) below the share seen (Wilson bound)"
        ),
        "relations_min_precision": "default",
        "points": rows,
        "chosen": min(passing) if passing else None,
    }
    _meta.write_result(args.out, result, run)
    print(f"chosen: {result['chosen']}; wrote {args.out}")


if __name__ == "__main__":
    main()
