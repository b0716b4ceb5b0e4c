"""Benchmark ``kgbuild.stages.resolve.cluster_names`` on synthetic mentions.

Generates up to 1,000,000 mentions of 100,000 known entities (people,
organisations, locations) in documents of a few entities each, with realistic
surface variation: case, titles, initials, middle initials, "Surname, Given",
bare surnames later in a document, legal-form suffixes and their absence, short
forms of organisations, accents, and one-character typos. Common surnames and
shared first words of organisations come from Zipf-like pools, so blocks are
skewed as in real data; entity popularity is Zipf-like too. No two true people
share a full name and no two organisations share their name (string matching
cannot split those), but many share a surname, an initial or a first word.

For each size (a prefix of the same mention stream) it reports wall and CPU time
(best of ``--repeat`` runs), peak resident memory during the call (the kernel's
VmHWM, reset before each call through ``/proc/self/clear_refs``; it includes the
input lists, which are resident anyway), and pairwise precision, recall and F1
against the known entities (from contingency counts, never by enumerating pairs),
plus the time ratio of the largest size to the smallest. CPU time is reported
because wall time on a shared machine moves with other jobs' load.

Run: ``.venv/bin/python bench/bench_resolve.py [--out bench/results/resolve.json]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _meta
import numpy as np
import numpy.typing as npt

from kgbuild.stages.resolve import ResolveConfig, cluster_names

FIRST_NAMES = (  # noqa: SIM905 (compact word lists)
    "James John Robert Michael William David Richard Joseph Thomas Charles Mary Patricia "
    "Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Wei Fang Li Ming Hiroshi "
    "Yuki Aiko Priya Rahul Anil Sunita Mohammed Ahmed Fatima Aisha Omar Carlos Maria José "
    "Juan Ana Lucía Sofía Mateo Luis Pedro Ingrid Lars Sven Astrid François Amélie Hélène "
    "Jürgen Björn Zoë Chloé Noël Christina Christine Daniel Daniela Michaela Joan Jon"
).split()
SURNAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Chen Wang "
    "Li Zhang Liu Kim Lee Park Nguyen Tran Patel Singh Kumar Sharma Müller Schmidt "
    "Schneider Fischer Weber O'Brien O'Neill MacDonald Dubois Lefèvre García Fernández "
    "López González Pérez Sánchez Rossi Russo Ferrari Esposito Tanaka Suzuki Sato Yamamoto "
    "Ivanov Petrov Novák Kowalski Nowak Jensen Hansen Andersson Johansson Larsen"
).split()
INDUSTRIES = (  # noqa: SIM905
    "Robotics Foods Capital Systems Energy Pharma Logistics Media Motors Bank Airlines "
    "Labs Partners Insurance Textiles Mining Software Networks Chemicals Health Steel "
    "Semiconductors Biotech Consulting Telecom Shipping Solar Games Studios"
).split()
LEGAL = ("Inc.", "Ltd.", "Corp.", "LLC", "GmbH", "PLC", "S.A.", "AG", "Group", "Co.", "")
LEGAL_ALT = {"Inc.": "Incorporated", "Ltd.": "Limited", "Corp.": "Corporation", "Co.": "Company"}
TITLES = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
PLACE_PARTS = ("Port", "San", "New", "Lake", "Mount", "North", "East")
ONSETS = "b c d f g h k l m n p r s t v z ch sh br tr".split()  # noqa: SIM905
VOWELS = "a e i o u a e i o ei".split()  # noqa: SIM905
CODAS = ["", "", "", "n", "r", "l", "s", "nd", "rt"]


@dataclass(frozen=True)
class Mentions:
    """A synthetic mention stream with its truth."""

    labels: list[str]
    texts: list[str]
    doc_ids: list[str]
    truth: npt.NDArray[np.int64]  # true entity index of each mention


def _word(rng: random.Random, syllables: int) -> str:
    """A pronounceable pseudo-word, capitalised."""
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)]
    return "".join(parts).capitalize()


def _zipf_pool(
    rng: random.Random, real: list[str], fake: int, syllables: tuple[int, ...]
) -> list[str]:
    """Real names first (most common), then pseudo-words; order is the Zipf rank."""
    seen = set(real)
    pool = list(real)
    while len(pool) < len(real) + fake:
        word = _word(rng, rng.choice(syllables))
        if word not in seen:
            seen.add(word)
            pool.append(word)
    return pool


def _zipf_rank(rng: random.Random, n: int, exponent: float) -> int:
    """A rank in ``1..n`` drawn with probability about ``rank**-exponent`` (``exponent < 1``).

    Inverse-CDF sampling of the continuous power law on ``[1, n + 1)``.
    """
    a = 1.0 - exponent
    rank = int((1 + rng.random() * ((n + 1) ** a - 1)) ** (1 / a))
    return min(max(rank, 1), n)


def _zipf_choice(rng: random.Random, pool: list[str], exponent: float) -> str:
    """Draw from ``pool`` with probability about proportional to ``rank**-exponent``."""
    return pool[_zipf_rank(rng, len(pool), exponent) - 1]


def _typo(rng: random.Random, text: str) -> str:
    """Apply one edit (delete, swap, substitute or insert) inside a word of 4+ letters."""
    words = [m for m in re.finditer(r"[^\W\d_]{4,}", text)]
    if not words:
        return text
    word = rng.choice(words)
    i = rng.randrange(word.start() + 1, word.end() - 1)
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 2:
        return text[:i] + letter + text[i + 1 :]
    return text[:i] + letter + text[i:]


@dataclass(frozen=True)
class _Truth:
    label: str
    parts: tuple[
        str, ...
    ]  # person: (first, middle initial or "", last); org: (word, industry, legal)


def _entities(rng: random.Random, count: int) -> list[_Truth]:
    """Distinct true entities: 55% people, 35% organisations, 10% locations."""
    firsts = _zipf_pool(rng, FIRST_NAMES, 3000, (2, 2, 3))
    lasts = _zipf_pool(rng, SURNAMES, 40000, (2, 3, 3))
    org_words = _zipf_pool(rng, ["Acme", "Globex", "Initech", "Umbrella"], 60000, (2, 3))
    places = _zipf_pool(rng, ["Springfield", "Riverton"], 20000, (2, 3))
    seen: set[tuple[str, ...]] = set()
    out: list[_Truth] = []
    while len(out) < count:
        roll = rng.random()
        if roll < 0.55:
            first, last = _zipf_choice(rng, firsts, 0.9), _zipf_choice(rng, lasts, 0.9)
            middle = rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.3 else ""
            key: tuple[str, ...] = ("PER", first, last)  # no two people share a full name
            truth = _Truth("PER", (first, middle, last))
        elif roll < 0.9:
            word = _zipf_choice(rng, org_words, 0.8)
            industry = rng.choice(INDUSTRIES) if rng.random() < 0.7 else ""
            key = ("ORG", word, industry)
            truth = _Truth("ORG", (word, industry, rng.choice(LEGAL)))
        else:
            name = _zipf_choice(rng, places, 0.5)
            if rng.random() < 0.2:
                name = f"{rng.choice(PLACE_PARTS)} {name}"
            key = ("LOC", name)
            truth = _Truth("LOC", (name,))
        if key not in seen:
            seen.add(key)
            out.append(truth)
    return out


def _person_text(rng: random.Random, parts: tuple[str, ...], later: bool) -> str:
    first, middle, last = parts
    if later and rng.random() < 0.4:
        return last  # bare surname after the full name in the same document
    roll = rng.random()
    if roll < 0.45:
        text = f"{first} {last}"
    elif roll < 0.55:
        text = f"{first} {middle}. {last}" if middle else f"{first} {last}"
    elif roll < 0.63:
        text = f"{rng.choice(TITLES)} {first} {last}"
    elif roll < 0.73:
        text = f"{first[0]}. {last}"
    elif roll < 0.79:
        text = f"{first} {last}".upper() if rng.random() < 0.5 else f"{first} {last}".lower()
    elif roll < 0.82:
        text = f"{last}, {first}"
    elif roll < 0.87:
        text = _typo(rng, f"{first} {last}")
    else:
        text = f"{first} {last}"
    return text


def _org_text(rng: random.Random, parts: tuple[str, ...], later: bool) -> str:
    word, industry, legal = parts
    base = f"{word} {industry}" if industry else word
    roll = rng.random()
    if industry and (roll < 0.10 or (later and roll < 0.30)):
        return word  # short form
    roll = rng.random()
    if roll < 0.35:
        return f"{base} {legal}".strip()
    if roll < 0.60:
        return base
    if roll < 0.70:
        return f"{base} {LEGAL_ALT.get(legal, legal)}".strip()
    if roll < 0.75:
        return f"{base} {legal}".strip().upper()
    if roll < 0.80:
        return base.lower()
    if roll < 0.83:
        return f"The {base}"
    if roll < 0.90:
        return _typo(rng, base)
    return f"{base} {legal}".strip()


def _loc_text(rng: random.Random, parts: tuple[str, ...], later: bool) -> str:
    (name,) = parts
    roll = rng.random()
    if roll < 0.05:
        return name.upper()
    if roll < 0.10:
        return name.lower()
    if roll < 0.18:
        return _typo(rng, name)
    return name


TEXT: dict[str, Callable[[random.Random, tuple[str, ...], bool], str]] = {
    "PER": _person_text,
    "ORG": _org_text,
    "LOC": _loc_text,
}


def generate(n_mentions: int, n_entities: int, seed: int) -> Mentions:
    """Documents of 3-6 entities (popularity Zipf-like), 1-4 mentions each, in order."""
    rng = random.Random(seed)
    entities = _entities(rng, n_entities)
    order = list(range(n_entities))
    rng.shuffle(order)  # popularity rank independent of kind
    labels: list[str] = []
    texts: list[str] = []
    doc_ids: list[str] = []
    truth: list[int] = []
    doc = 0
    while len(texts) < n_mentions:
        doc_id = f"doc{doc:07d}"
        doc += 1
        chosen = {order[_zipf_rank(rng, n_entities, 0.5) - 1] for _ in range(rng.randint(3, 6))}
        for e in sorted(chosen):
            entity = entities[e]
            for k in range(rng.randint(1, 4)):
                labels.append(entity.label)
                texts.append(TEXT[entity.label](rng, entity.parts, k > 0))
                doc_ids.append(doc_id)
                truth.append(e)
    return Mentions(
        labels=labels[:n_mentions],
        texts=texts[:n_mentions],
        doc_ids=doc_ids[:n_mentions],
        truth=np.asarray(truth[:n_mentions], dtype=np.int64),
    )


def _pairs(codes: npt.NDArray[np.int64]) -> int:
    """Number of unordered pairs sharing a code: sum of C(size, 2) over groups."""
    if len(codes) == 0:
        return 0
    ordered = np.sort(codes)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(ordered)])
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(
    predicted: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]
) -> dict[str, float]:
    """Pairwise precision, recall and F1 from the contingency table's cell sizes."""
    width = int(truth.max(initial=0)) + 1
    both = _pairs(predicted.astype(np.int64) * width + truth)
    pred = _pairs(predicted.astype(np.int64))
    true = _pairs(truth)
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": true,
        "predicted_pairs": pred,
    }


def _rss_kib(field: str) -> int | None:
    """A VmRSS/VmHWM field of /proc/self/status in KiB (None off Linux)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_size(data: Mentions, size: int, config: ResolveConfig, repeat: int) -> dict[str, Any]:
    """Cluster the first ``size`` mentions ``repeat`` times; best times, memory, quality."""
    labels, texts, docs = data.labels[:size], data.texts[:size], data.doc_ids[:size]
    walls: list[float] = []
    cpus: list[float] = []
    peaks: list[int] = []
    baseline: int | None = None
    method = "VmHWM after a clear_refs reset (whole process: includes the input lists)"
    predicted = np.zeros(0, dtype=np.int64)
    for _ in range(repeat):
        del predicted
        gc.collect()
        baseline = _rss_kib("VmRSS")
        reset = _reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        predicted = cluster_names(labels, texts, docs, config)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if reset and baseline is not None:
            peaks.append(_rss_kib("VmHWM") or 0)
        else:
            peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            method = "getrusage ru_maxrss (whole process, peak since start)"
    truth = data.truth[:size]
    return {
        "mentions": size,
        "true_entities": len(set(truth.tolist())),
        "predicted_clusters": len(set(predicted.tolist())),
        "unique_surface_forms": len(set(zip(labels, texts, strict=True))),
        "wall_seconds": round(min(walls), 3),
        "cpu_seconds": round(min(cpus), 3),
        "wall_seconds_all": [round(w, 3) for w in walls],
        "peak_rss_mb": round(max(peaks) / 1024, 1),
        "baseline_rss_mb": round((baseline or 0) / 1024, 1),
        "memory_method": method,
        **pairwise_scores(predicted, truth),
    }


def main(argv: list[str] | None = None) -> int:
    """Generate, run every size, print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/resolve.json"))
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; best time kept")
    parser.add_argument("--workers", type=int, default=1, help="rapidfuzz threads")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    config = ResolveConfig(workers=args.workers)

    start = time.perf_counter()
    data = generate(max(sizes), args.entities, args.seed)
    generation = time.perf_counter() - start
    run = _meta.start()
    rows = [run_size(data, size, config, args.repeat) for size in sizes]

    print(
        f"{'mentions':>9} {'forms':>8} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} "
        f"{'P':>6} {'R':>6} {'F1':>6}"
    )
    for row in rows:
        print(
            f"{row['mentions']:>9,} {row['unique_surface_forms']:>8,} "
            f"{row['wall_seconds']:>7.2f} {row['cpu_seconds']:>7.2f} {row['peak_rss_mb']:>8.0f} "
            f"{row['precision']:>6.3f} {row['recall']:>6.3f} {row['f1']:>6.3f}"
        )
    wall_ratio = rows[-1]["wall_seconds"] / rows[0]["wall_seconds"]
    cpu_ratio = rows[-1]["cpu_seconds"] / rows[0]["cpu_seconds"]
    growth = sizes[-1] / sizes[0]
    print(
        f"time ratio {sizes[-1]:,}/{sizes[0]:,}: wall {wall_ratio:.2f}, cpu {cpu_ratio:.2f} "
        f"(size ratio {growth:.0f}; best of {args.repeat})"
    )
    print(f"memory: {rows[0]['memory_method']}")

    settings = config.model_dump(mode="json")
    for name in ("person_labels", "organization_labels"):
        settings[name] = sorted(settings[name])  # frozensets: make the JSON reproducible
    report = {
        "benchmark": "kgbuild.stages.resolve.cluster_names",
        "seed": args.seed,
        "entities": args.entities,
        "repeat": args.repeat,
        "generation_seconds": round(generation, 2),
        "config": settings,
        "results": rows,
        "time_ratio_wall": round(wall_ratio, 3),
        "time_ratio_cpu": round(cpu_ratio, 3),
        "size_ratio": growth,
    }
    _meta.write_result(args.out, report, run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
