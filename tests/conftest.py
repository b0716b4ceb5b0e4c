"""Shared fixtures: tiny models built and trained on the fly through the real code paths."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from typer import Typer
    from typer.testing import Result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _session_dir(variable: str, prefix: str) -> None:
    """Point ``variable`` at a fresh temporary folder, removed when this process exits.

    Left alone when already set (a process the test session started inherits the folder;
    the process that made it removes it).
    """
    if os.environ.get(variable):
        return
    folder = tempfile.mkdtemp(prefix=prefix)
    os.environ[variable] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


# `kgbuild serve` records itself for `kgbuild ask`: keep the tests' records, and the user's
# running servers, apart.
_session_dir("KGBUILD_SERVE__REGISTRY_DIR", "kgbuild-servers-")
# merged LoRA models are cached per test session, not in the user's ~/.cache
_session_dir("KGBUILD_MODEL_CACHE", "kgbuild-merged-")

# imported after the environment above is set (E402)
from kgbuild.config import NerConfig, Settings  # noqa: E402
from kgbuild.nlp.tiny import DEFAULT_TINY_VOCAB, make_tiny_bert  # noqa: E402
from tests.neo4j_session import neo4j_target  # noqa: E402, F401  (session fixture: tests/integration/{neo4j,flows})

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "examples" / "corpus"
SHARED_DATA = Path(os.environ.get("KGBUILD_SHARED_DATA") or REPO.parent / "shared" / "data")
"""The shared data sets: ``../shared/data`` beside the repository (``$KGBUILD_SHARED_DATA``)."""


class SharedData:
    """Files of the shared data sets; a test whose file is not there is skipped, saying so."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, relative: str) -> Path:
        """The file ``relative`` to the data folder (skips the test where it is missing)."""
        path = self.root / relative
        if not path.is_file():
            pytest.skip(f"{relative} is not in the shared data ({self.root})")
        return path


@pytest.fixture(scope="session")
def shared_data() -> SharedData:
    """The shared data sets; fails under CI when the folder itself is missing."""
    if not SHARED_DATA.is_dir():
        message = f"the shared data folder {SHARED_DATA} is missing (set KGBUILD_SHARED_DATA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SharedData(SHARED_DATA)


LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
PEOPLE = [("maria", "gonzalez"), ("david", "chen"), ("linda", "chen"), ("omar", "haddad")]
ORGS = [("acme", "robotics"), ("northwind", "logistics"), ("helix",), ("granite", "capital")]
PLACES = [("berlin",), ("toronto",), ("nairobi",), ("lisbon",)]
FILLER = [
    "the",
    "company",
    "said",
    "on",
    "monday",
    "that",
    "it",
    "was",
    "a",
    "good",
    "year",
    "for",
    "its",
    "work",
    "in",
    "the",
    "city",
    "and",
    "of",
]
KEYWORDS = sorted({w for group in (PEOPLE, ORGS, PLACES) for name in group for w in name})
KEYWORD_VOCAB = [*DEFAULT_TINY_VOCAB, *(k for k in KEYWORDS if k not in DEFAULT_TINY_VOCAB)]
"""A tiny BERT vocabulary that holds every keyword name whole."""


def _sentence(rng: random.Random) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for _ in range(rng.randint(2, 5)):
        tokens += [(w, "O") for w in rng.sample(FILLER, rng.randint(0, 6))]
        kind, names = rng.choice([("PER", PEOPLE), ("ORG", ORGS), ("LOC", PLACES)])
        name = rng.choice(names)
        tokens += [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(name)]
    tokens.append((".", "O"))
    return tokens


def write_keyword_conll(path: Path, sentences: int, seed: int) -> Path:
    """Synthetic CoNLL data where the entity words alone decide the tags."""
    rng = random.Random(seed)
    blocks = ["\n".join(f"{w} {t}" for w, t in _sentence(rng)) for _ in range(sentences)]
    path.write_text("-DOCSTART- O\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def keyword_ner_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT NER model trained (by our own train_ner) to tag the keyword names."""
    from kgbuild.training.ner import train_ner

    root = tmp_path_factory.mktemp("keyword-ner")
    base = make_tiny_bert(
        root / "base",
        LABELS,
        vocab=KEYWORD_VOCAB,
        seed=0,
    )
    train = write_keyword_conll(root / "train.txt", 600, seed=1)
    dev = write_keyword_conll(root / "dev.txt", 60, seed=2)
    out = root / "model"
    train_ner(
        train,
        dev,
        base=str(base),
        out=out,
        epochs=8,
        learning_rate=5e-3,
        batch_size=16,
        lora_rank=None,
        seed=0,
        patience=6,
    )
    return out


@pytest.fixture(scope="session")
def random_ner_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny BERT NER model (random but deterministic predictions)."""
    return make_tiny_bert(tmp_path_factory.mktemp("random-ner") / "model", LABELS, seed=0)


@pytest.fixture
def settings_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build Settings around a model dir, writing outputs and the ledger under tmp_path."""

    def make(model: Path, **ner: object) -> Settings:
        return Settings(out_dir=tmp_path / "out", ner=NerConfig(model=str(model), **ner))  # type: ignore[arg-type]

    return make


def write_keyword_conll04(path: Path, sentences: int, seed: int) -> Path:
    """Synthetic CoNLL04 over the keyword names: who works for which organisation where."""
    import json

    rng = random.Random(seed)
    records = []
    for i in range(sentences):
        (given, family), org, (city,) = rng.choice(PEOPLE), rng.choice(ORGS), rng.choice(PLACES)
        person = [given.title(), family.title()]
        org_words = [w.title() for w in org]
        if i % 2 == 0:
            tokens = [*person, "works", "for", *org_words, "in", city.title(), "."]
            p, o = (0, 2), (4, 4 + len(org_words))
            c = (o[1] + 1, o[1] + 2)
        else:
            tokens = [city.title(), ":", *person, "of", *org_words, "said", "."]
            c, p = (0, 1), (2, 4)
            o = (5, 5 + len(org_words))
        entities = [[p[0], p[1], "Peop"], [o[0], o[1], "Org"], [c[0], c[1], "Loc"]]
        relations = [[*p, *o, "Work_For"], [*o, *c, "OrgBased_In"]]
        records.append({"tokens": tokens, "entities": entities, "relations": relations})
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def keyword_re_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny relation classifier trained (by our own train_re) on keyword sentences."""
    from kgbuild.training.re import train_re

    root = tmp_path_factory.mktemp("keyword-re")
    base = make_tiny_bert(
        root / "base",
        ["O"],
        vocab=KEYWORD_VOCAB,
        seed=0,
    )
    train = write_keyword_conll04(root / "train.json", 64, seed=0)
    dev = write_keyword_conll04(root / "dev.json", 16, seed=1)
    train_re(
        train,
        dev,
        base=str(base),
        out=root / "model",
        epochs=10,
        learning_rate=5e-3,
        batch_size=8,
        lora_rank=4,
        patience=8,
        seed=1,
        bf16=False,
        device="cpu",
        command="kgbuild train re (test fixture)",
    )
    return root / "model"


def write_keyword_squad(path: Path, articles: int, seed: int) -> Path:
    """SQuAD JSON over who-works-where paragraphs; questions about the organisation or city."""
    import json

    rng = random.Random(seed)
    data = []
    for a in range(articles):
        paragraphs = []
        for p in range(4):
            (given, family), org, (city,) = rng.choice(PEOPLE), rng.choice(ORGS), rng.choice(PLACES)
            person, org_text = f"{given} {family}", " ".join(org)
            filler = " ".join(rng.sample(["the", "company", "said", "on", "monday"], 3))
            context = f"{filler} . {person} works for {org_text} in {city} . {filler} ."
            qas = [
                {
                    "id": f"a{a}p{p}org",
                    "question": f"who does {person} work for ?",
                    "answers": [{"text": org_text, "answer_start": context.index(org_text)}],
                },
                {
                    "id": f"a{a}p{p}city",
                    "question": f"in which city does {person} work ?",
                    "answers": [{"text": city, "answer_start": context.rindex(city)}],
                },
            ]
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": f"article_{a}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path


QA_WORDS = ["who", "does", "work", "works", "which", "?"]


@pytest.fixture(scope="session")
def qa_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT whose vocabulary holds the keyword names and question words."""
    vocab = list(KEYWORD_VOCAB)
    vocab += [w for w in QA_WORDS if w not in vocab]
    return make_tiny_bert(tmp_path_factory.mktemp("qa-base") / "base", ["O"], vocab=vocab, seed=0)


@pytest.fixture(scope="session")
def keyword_qa_model(qa_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny extractive QA model trained (by our own train_qa) on keyword paragraphs."""
    from kgbuild.training.qa import train_qa

    root = tmp_path_factory.mktemp("keyword-qa")
    data = write_keyword_squad(root / "squad.json", articles=30, seed=1)
    train_qa(
        data,
        base=str(qa_base),
        out=root / "model",
        epochs=6,
        learning_rate=5e-3,
        batch_size=16,
        lora_rank=None,
        max_length=64,
        stride=16,
        dev_articles=5,
        patience=6,
        seed=0,
        command="kgbuild train qa (test fixture)",
    )
    return root / "model"


def write_answerable_and_not(path: Path, articles: int, seed: int) -> Path:
    """SQuAD JSON: per article, one person who works in a city and one who lives in one.

    Each question asks where a person works or lives; the other paragraph of the article
    holds no answer to it, which is what the generated negatives pair it with.
    """
    import json

    rng = random.Random(seed)
    data = []
    for a in range(articles):
        paragraphs = []
        for p, (verb, ask) in enumerate([("works", "work"), ("lives", "live")]):
            given, family = rng.choice(PEOPLE)
            (city,) = rng.choice(PLACES)
            context = f"the company said . {given} {family} {verb} in {city} . on monday ."
            question = f"in which city does {given} {family} {ask} ?"
            answer = {"text": city, "answer_start": context.index(city)}
            qa = {"id": f"a{a}p{p}", "question": question, "answers": [answer]}
            paragraphs.append({"context": context, "qas": [qa]})
        data.append({"title": f"article_{a}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def abstaining_model(qa_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny QA model trained with generated negatives (it says "no answer")."""
    from typer.testing import CliRunner

    from kgbuild.cli import app

    root = tmp_path_factory.mktemp("qa-negatives")
    data = write_answerable_and_not(root / "squad.json", articles=40, seed=1)
    out = root / "model"
    run = CliRunner().invoke(
        app,
        [
            "train", "qa", "--train", str(data), "--out", str(out), "--base", str(qa_base),
            "--epochs", "8", "--lr", "5e-3", "--batch-size", "16", "--lora-rank", "0",
            "--max-length", "64", "--stride", "16", "--dev-articles", "5", "--patience", "8",
            "--negatives", "1", "--calibration-articles", "4", "--device", "cpu",
        ],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "answered 'no answer'" in run.output
    return out


# -- files in a legacy code page: refused as UTF-8, read with --encoding cp1252 -------------------


def write_cp1252(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` in cp1252.

    It must hold a character beyond ASCII: all-ASCII bytes are UTF-8 too, so reading them
    without ``--encoding`` would not be refused.
    """
    assert not text.isascii(), f"nothing beyond ASCII to write in cp1252 to {path}"
    path.write_bytes(text.encode("cp1252"))
    return path


def in_cp1252(path: Path) -> Path:
    """``path`` (UTF-8 JSON) rewritten in cp1252, each "." token made "…" (byte 0x85)."""
    return write_cp1252(path, path.read_text(encoding="utf-8").replace('"."', '"\u2026"'))


def assert_refused_as_not_utf8(result: Result, path: Path) -> None:
    """``result`` is a usage error naming ``path``'s first line as not UTF-8, and --encoding."""
    assert result.exit_code == 2, result.output
    assert f"{path}:1: not utf-8 text" in result.output and "--encoding" in result.output


def refused_then_read_in_cp1252(app: Typer, command: Sequence[str], path: Path) -> Result:
    """Run ``command`` without ``--encoding`` (refused: ``path`` is not UTF-8), then with
    ``--encoding cp1252``, and return that second run for the test to check what it read."""
    from typer.testing import CliRunner

    runner = CliRunner()
    assert_refused_as_not_utf8(runner.invoke(app, list(command)), path)
    return runner.invoke(app, [*command, "--encoding", "cp1252"])
