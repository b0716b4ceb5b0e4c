"""Model scores for bench/results: ``kgbuild evaluate ...`` run in this process, with metadata.

Everything after ``--out FILE`` is a ``kgbuild evaluate`` command line (task and options);
the scores it writes are saved to ``FILE`` together with where and how they were
computed (bench/_meta.py). The files hold scores only, never the data they come from.

Usage::

    python bench/bench_scores.py --out bench/results/scores_ner_conll2003_dev.json \\
        ner --model default --data ../shared/data/ner/conll2003/valid.txt
    python bench/bench_scores.py --out bench/results/scores_pipeline_conll04_dev.json \\
        pipeline --data ../shared/data/re/conll04/valid.CoNLL04.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _meta

from kgbuild.cli import app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="result file to write")
    parser.add_argument("evaluate", nargs=argparse.REMAINDER, help="kgbuild evaluate arguments")
    args = parser.parse_args()
    if not args.evaluate:
        parser.error("give a kgbuild evaluate command line after --out FILE")
    run = _meta.start()
    with tempfile.TemporaryDirectory(prefix="kgbuild-scores-") as folder:
        scores = Path(folder) / "scores.json"
        app(["evaluate", *args.evaluate, "--json-out", str(scores)], standalone_mode=False)
        result = json.loads(scores.read_text(encoding="utf-8"))
    _meta.write_result(args.out, result, run)


if __name__ == "__main__":
    main()
