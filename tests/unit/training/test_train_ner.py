import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from kgbuild.errors import InputError, ModelLoadError
from kgbuild.nlp.hf import clear_model_cache, load_token_classifier
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.training.ner import NerOptions, NerTask, evaluate_ner, predict_tags, train_ner
from kgbuild.training.recipe import Run, split_keywords, train_model

LABELS = ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]


def _write_conll(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    names, cities, orgs = (
        ["john", "mary", "peter", "david"],
        ["london", "paris", "tokyo"],
        ["reuters", "police"],
    )
    blocks = []
    for _ in range(n):
        rows = [
            (rng.choice(names).title(), "B-PER"),
            ("Smith", "I-PER"),
            ("went", "O"),
            ("to", "O"),
            (rng.choice(cities).title(), "B-LOC"),
            ("with", "O"),
            (rng.choice(orgs), "B-ORG"),
            (".", "O"),
        ]
        blocks.append("\n".join(f"{token} NN O {tag}" for token, tag in rows))
    path.write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("ner")
    base = make_tiny_bert(root / "base", ["O"])
    return _write_conll(root / "train.txt", 32, 0), _write_conll(root / "dev.txt", 8, 1), base


@pytest.mark.parametrize("lora_rank", [4, None], ids=["lora", "full"])
def test_train_save_and_reload(
    data: tuple[Path, Path, Path], tmp_path: Path, lora_rank: int | None
) -> None:
    train, dev, base = data
    out = tmp_path / "model"
    result = train_ner(
        train,
        dev,
        base=str(base),
        out=out,
        epochs=4,
        learning_rate=5e-3,
        batch_size=8,
        lora_rank=lora_rank,
        seed=1,
        command="kgbuild train ner (test)",
    )
    losses = result.train_losses
    assert len(losses) >= 4
    assert sum(losses[-2:]) < sum(losses[:2])
    assert result.labels == tuple(LABELS)

    manifest = json.loads((out / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert manifest["base"] == str(base)
    assert manifest["labels"] == LABELS
    assert manifest["task"] == "token-classification"
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert card["command"] == "kgbuild train ner (test)"
    assert card["seed"] == 1
    assert len(card["data"]["train"][0]["sha256"]) == 64
    assert "micro" in card["dev_scores"]
    assert len(card["dev_f1_per_epoch"]) == round(card["epochs_run"])
    assert max(card["dev_f1_per_epoch"]) == card["best_checkpoint_dev_f1"]
    assert card["versions"]["transformers"]
    assert "Dev scores" in (out / "README.md").read_text(encoding="utf-8")
    if lora_rank is not None:
        assert (out / "adapter_model.safetensors").is_file()
        assert not (out / "model.safetensors").exists()

    clear_model_cache()
    loaded = load_token_classifier(str(out), device="cpu")
    assert loaded.id2label == dict(enumerate(LABELS))
    assert loaded.max_length == 128
    assert loaded.revision
    assert load_token_classifier(str(out), device="cpu") is loaded
    scores = evaluate_ner(str(out), dev, device="cpu")
    assert scores.micro.f1 == pytest.approx(result.dev.micro.f1)
    clear_model_cache()


def test_missing_data_file_raises(data: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, dev, base = data
    with pytest.raises(InputError, match="does not exist"):
        train_ner(tmp_path / "nope.txt", dev, base=str(base), out=tmp_path / "m")


@pytest.mark.parametrize("data_format", ["bmes", "spans"])
def test_train_ner_reads_bmes_and_json_spans(data_format: str, tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", ["O"])
    if data_format == "bmes":
        sentence = [("北", "B-LOC"), ("京", "E-LOC"), ("大", "O"), ("学", "O"), ("中", "S-ORG")]
        text = "\n\n".join("\n".join(f"{c} {t}" for c, t in sentence) for _ in range(8)) + "\n"
        expected = {"O", "B-LOC", "I-LOC", "B-ORG"}
    else:
        record = {
            "text": "Mary Smith went to Paris .",
            "entities": [
                {"start": 0, "end": 10, "label": "PER"},
                {"start": 19, "end": 24, "label": "LOC"},
            ],
        }
        text = "\n".join(json.dumps(record) for _ in range(8)) + "\n"
        expected = {"O", "B-PER", "I-PER", "B-LOC"}
    train = tmp_path / "train.data"
    train.write_text(text, encoding="utf-8")
    result = train_ner(
        train,
        train,
        base=str(base),
        out=tmp_path / "model",
        epochs=1,
        batch_size=4,
        lora_rank=None,
        max_steps=2,
        seed=0,
        bf16=False,
        device="cpu",
        data_format=data_format,
    )
    card = json.loads((result.out_dir / "model_card.json").read_text(encoding="utf-8"))
    assert set(card["labels"]) == expected
    clear_model_cache()
    loaded = load_token_classifier(str(result.out_dir))
    assert set(loaded.id2label.values()) == expected


def test_an_output_path_that_is_a_file_is_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    train, dev, base = data
    taken = tmp_path / "model.txt"
    taken.write_text("notes\n", encoding="utf-8")
    with pytest.raises(InputError, match="is a file"):
        train_ner(train, dev, base=str(base), out=taken, epochs=1, lora_rank=4, device="cpu")
    assert taken.read_text(encoding="utf-8") == "notes\n"


def test_an_output_folder_of_other_files_is_refused_not_overwritten(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """--out at a project folder deleted its config.json and replaced its README.md."""
    train, dev, base = data
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n", encoding="utf-8")
    (project / "config.json").write_text("{}\n", encoding="utf-8")
    message = "holds config.json, README.md and is not a kgbuild model's folder"
    with pytest.raises(InputError, match=message):
        train_ner(train, dev, base=str(base), out=project, epochs=1, device="cpu")
    assert (project / "README.md").read_text(encoding="utf-8") == "# my project\n"
    assert (project / "config.json").is_file()


def test_dev_types_absent_from_training_are_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A dev file tagged MISC where train has none trained a MISC head on no example."""
    train, dev, base = data
    other = tmp_path / "dev-misc.txt"
    other.write_text(dev.read_text(encoding="utf-8").replace("-LOC", "-MISC"), encoding="utf-8")
    message = rf"{re.escape(str(other))}: dev entity types MISC appear in no training data \(it has LOC, ORG"
    with pytest.raises(InputError, match=message):
        train_ner(train, other, base=str(base), out=tmp_path / "m", epochs=1, device="cpu")
    assert not (tmp_path / "m").exists()


def test_sources_tagging_in_different_schemes_are_refused_before_training(
    tmp_path: Path,
) -> None:
    """An IOBES file beside a BIO source trained S-ORG and a one-word B-ORG as two labels."""
    from kgbuild.errors import DataFormatError
    from kgbuild.readers.ner_sources import parse_source

    iobes = tmp_path / "iobes.txt"
    iobes.write_text("Acme S-ORG\nhires O\nMaria B-PER\nLopez E-PER\n", encoding="utf-8")
    docred = _write_docred(tmp_path / "docred.json")
    train = [parse_source(f"conll:{iobes}"), parse_source(f"docred:{docred}")]
    with pytest.raises(DataFormatError) as info:
        train_ner(train, train[:1], base="unused", out=tmp_path / "m", epochs=1)
    assert str(info.value) == (
        f"docred:{docred}: document 1 sentence 1 word 2: entity tag 'I-PER' is followed by "
        f"'O', so the entity ends without a closing tag as in BIO, but conll:{iobes}: "
        "document 1 sentence 1 word 1 tags 'S-ORG' as in IOBES, where every entity ends on an "
        "E- tag or is a lone S- tag: the training and dev data mixes BIO with IOBES; tag every "
        "entity in one scheme"
    )
    assert not (tmp_path / "m").exists()


def test_continuing_an_iobes_model_on_bio_data_is_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Its head would learn a one-word B-ORG where it has learned S-ORG."""
    from kgbuild.errors import DataFormatError

    train, dev, _ = data
    init = tmp_path / "iobes-model"
    init.mkdir()
    labels = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-ORG", "E-ORG", "S-ORG"]
    labels += ["B-PER", "I-PER", "E-PER", "S-PER"]
    manifest = {"base": "unused", "labels": labels}
    (init / "kgbuild_model.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        train_ner(train, dev, base="unused", out=tmp_path / "m", init=init, epochs=1)
    assert str(info.value) == (
        f"conll:{train}: document 1 sentence 1 word 2: entity tag 'I-PER' is followed by 'O', "
        f"so the entity ends without a closing tag as in BIO, but model {init} tags 'E-LOC' "
        "as in IOBES, where every entity ends on an E- tag or is a lone S- tag: the training "
        "and dev data mixes BIO with IOBES; tag every entity in one scheme"
    )


class _InterruptedWhileScoring(NerTask):
    """A NER run whose user presses Ctrl-C while the saved model is scored on dev."""

    def evaluate(self, run: Run) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_run_leaves_no_model_that_loads(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    train, dev, base = data
    settings = {"epochs": 1, "lora_rank": 4, "bf16": False, "device": "cpu"}
    out = train_ner(train, dev, base=str(base), out=tmp_path / "model", **settings).out_dir
    other = tmp_path / "other.txt"
    other.write_text(train.read_text(encoding="utf-8").replace("B-ORG", "B-MISC"))
    options, ner = split_keywords(settings, NerOptions, base=str(base), out=out, epochs=1)
    with pytest.raises(KeyboardInterrupt):
        train_model(_InterruptedWhileScoring(other, other, options, ner))
    # neither the new weights beside the previous run's card, nor the new ones without a card
    assert not (out / "model_card.json").exists()
    clear_model_cache()
    with pytest.raises(ModelLoadError):
        load_token_classifier(str(out))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"lora_rank": -3}, "lora_rank must be >= 0"),
        ({"max_steps": 0}, "max_steps must be > 0, or -1"),
        ({"patience": 0}, "patience must be >= 1"),
    ],
)
def test_out_of_range_numbers_are_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path, option: dict[str, int], message: str
) -> None:
    train, dev, base = data
    settings: dict[str, Any] = {"epochs": 1, "device": "cpu", "bf16": False, **option}
    with pytest.raises(InputError, match=message):
        train_ner(train, dev, base=str(base), out=tmp_path / "m", **settings)
    assert not (tmp_path / "m").exists()


def test_unknown_training_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("a O\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown format 'xml'"):
        train_ner(tmp_path / "x", tmp_path / "x", base="b", out=tmp_path / "o", data_format="xml")


def test_training_continues_from_a_trained_model(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    train, dev, base = data
    settings = {"base": str(base), "batch_size": 8, "seed": 1, "bf16": False, "device": "cpu"}
    trained = train_ner(
        train, dev, out=tmp_path / "trained", lora_rank=4, epochs=8, learning_rate=5e-3, **settings
    )
    assert trained.dev.micro.f1 > 0.5
    one_tiny_step = {**settings, "lora_rank": 4, "max_steps": 1, "learning_rate": 1e-9}
    continued = train_ner(
        train, dev, out=tmp_path / "continued", init=trained.out_dir, **one_tiny_step
    )
    fresh = train_ner(train, dev, out=tmp_path / "fresh", **one_tiny_step)
    assert continued.dev.micro.f1 == pytest.approx(trained.dev.micro.f1, abs=0.02)
    assert fresh.dev.micro.f1 < trained.dev.micro.f1 - 0.3
    card = json.loads((tmp_path / "continued" / "model_card.json").read_text(encoding="utf-8"))
    assert card["hyperparameters"]["init"] == str(trained.out_dir.resolve())

    # a small corpus need not hold every label of the head: no ORG at all here
    no_org = tmp_path / "no_org.txt"
    no_org.write_text(train.read_text(encoding="utf-8").replace("B-ORG", "O"))
    subset = train_ner(
        no_org, no_org, out=tmp_path / "subset", init=trained.out_dir, **one_tiny_step
    )
    assert list(subset.labels) == LABELS  # the head's rows, ORG's kept
    clear_model_cache()
    tags = predict_tags(
        str(subset.out_dir), [["Mary", "Smith", "went", "to", "Paris", "with", "reuters", "."]]
    )
    assert "B-ORG" in tags[0]  # still tagged: the head's ORG rows were kept

    other_labels = tmp_path / "other.txt"
    other_labels.write_text(train.read_text(encoding="utf-8").replace("B-ORG", "B-MISC"))
    with pytest.raises(InputError, match="a head can only be continued on the same labels"):
        train_ner(
            other_labels, other_labels, out=tmp_path / "bad", init=trained.out_dir, **one_tiny_step
        )
    with pytest.raises(InputError, match="is a LoRA adapter"):
        train_ner(
            train,
            dev,
            out=tmp_path / "bad",
            init=trained.out_dir,
            **{**one_tiny_step, "lora_rank": None},
        )


def test_a_teacher_with_labels_the_data_lacks_teaches_them_too(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Distilling a corpus without MISC from a teacher that tags MISC: the student takes
    the teacher's labels (it was refused: "a teacher must predict the same labels")."""
    train, dev, base = data
    settings: dict[str, Any] = {"base": str(base), "batch_size": 8, "max_steps": 1}
    settings |= {"lora_rank": 4, "bf16": False, "device": "cpu"}
    with_misc = tmp_path / "misc.txt"
    with_misc.write_text(train.read_text(encoding="utf-8").replace("B-ORG", "B-MISC"))
    both = tmp_path / "both.txt"
    both.write_text(train.read_text(encoding="utf-8") + "\n" + with_misc.read_text())
    teacher = train_ner(both, both, out=tmp_path / "teacher", **settings)
    assert "B-MISC" in teacher.labels and "B-MISC" not in LABELS
    student = train_ner(
        train, dev, out=tmp_path / "student", teacher=str(teacher.out_dir), **settings
    )
    assert list(student.labels) == list(teacher.labels)


def _write_docred(path: Path) -> Path:
    """Three documents of two sentences; document 0 has a nested mention and a date."""
    docs = []
    for i in range(3):
        sents = [
            ["John", "Smith", "of", "Reuters", "went", "to", "Paris", "in", "1996", "."],
            ["He", "saw", "three", "men", "in", "London", "Paris", "."],
        ]
        vertex = [
            [{"name": "John Smith", "sent_id": 0, "pos": [0, 2], "type": "PER"}],
            [{"name": "Reuters", "sent_id": 0, "pos": [3, 4], "type": "ORG"}],
            [{"name": "Paris", "sent_id": 0, "pos": [6, 7], "type": "LOC"}],
            [{"name": "1996", "sent_id": 0, "pos": [8, 9], "type": "TIME"}],
            [{"name": "three", "sent_id": 1, "pos": [2, 3], "type": "NUM"}],
            [{"name": "London", "sent_id": 1, "pos": [5, 6], "type": "LOC"}],
        ]
        if i == 0:  # nested in "London Paris": the longer mention is tagged for training
            vertex.append([{"name": "London Paris", "sent_id": 1, "pos": [5, 7], "type": "MISC"}])
        docs.append({"title": f"doc {i}", "sents": sents, "vertexSet": vertex, "labels": []})
    path.write_text(json.dumps(docs), encoding="utf-8")
    return path


def test_encoding_masks_context_and_unannotated_dates(data: tuple[Path, Path, Path]) -> None:
    from transformers import AutoTokenizer

    from kgbuild.readers.conll import TaggedSentence
    from kgbuild.training.ner import _encode

    _, _, base = data
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    document = [
        TaggedSentence(tokens=("the", "year", "was", "good"), tags=("O",) * 4),
        TaggedSentence(
            tokens=("John", "won", "in", "1996", "and", "May"),
            tags=("B-PER", "O", "O", "O", "O", "O"),
        ),
        TaggedSentence(tokens=("it", "may", "rain", "."), tags=("O",) * 4),
    ]
    label2id = {"O": 0, "B-PER": 1}
    encode = _encode  # one call per (context, coverage) setting below

    plain = encode(
        [([document], "full")], tokenizer, label2id, max_length=64, label_all_subtokens=False
    )
    partial = encode(
        [([document], "partial")], tokenizer, label2id, max_length=64, label_all_subtokens=False
    )
    centre_plain, centre_partial = plain.features[1]["labels"], partial.features[1]["labels"]
    assert [x for x in centre_plain if x != -100] == [1, 0, 0, 0, 0, 0]
    # a partial corpus (no TIME/NUM) does not vouch for the O of "1996" and "May"
    assert [x for x in centre_partial if x != -100] == [1, 0, 0, 0]
    assert [x for x in partial.features[2]["labels"] if x != -100] == [0, 0, 0, 0]  # "may"
    unlabeled = encode(
        [([document], "none")], tokenizer, label2id, max_length=64, label_all_subtokens=False
    )
    assert all(x == -100 for f in unlabeled.features for x in f["labels"])  # words only

    context = encode(
        [([document], "full")],
        tokenizer,
        label2id,
        max_length=64,
        label_all_subtokens=False,
        context=True,
    )
    window = context.features[1]
    assert len(window["input_ids"]) > len(plain.features[1]["input_ids"])
    assert [x for x in window["labels"] if x != -100] == [1, 0, 0, 0, 0, 0]  # centre only
    first_label = next(i for i, x in enumerate(window["labels"]) if x != -100)
    assert first_label > 1  # the previous sentence is read before it
    # a short window: context is cut, the centre never
    short = encode(
        [([document], "full")],
        tokenizer,
        label2id,
        max_length=12,
        label_all_subtokens=False,
        context=True,
    )
    assert all(len(f["input_ids"]) <= 12 for f in short.features)
    assert [x for x in short.features[1]["labels"] if x != -100] == [1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("context", [False, True], ids=["alone", "context"])
def test_a_sentence_longer_than_max_length_is_trained_on_to_its_last_word(
    data: tuple[Path, Path, Path], context: bool
) -> None:
    """A 40-word sentence (a table row, a line without punctuation) in 12-token windows."""
    from transformers import AutoTokenizer

    from kgbuild.readers.conll import TaggedSentence
    from kgbuild.training.ner import _encode

    tokenizer = AutoTokenizer.from_pretrained(str(data[2]))
    words = ("john", "went", "to", "london", "with", "reuters", "and", "mary", "smith") * 4
    tags = (*("B-PER" if w in ("john", "mary") else "O" for w in words), "B-PER")
    long = TaggedSentence(tokens=(*words, "peter"), tags=tags)
    short = TaggedSentence(tokens=("it", "rained", "."), tags=("O",) * 3)
    label2id = {"O": 0, "B-PER": 1}
    encoded = _encode(
        [([[short, long, short]], "full")],
        tokenizer,
        label2id,
        max_length=12,
        label_all_subtokens=False,
        context=context,
    )
    assert all(len(f["input_ids"]) <= 12 for f in encoded.features)
    labelled = [x for f in encoded.features for x in f["labels"] if x != -100]
    assert labelled == [0, 0, 0, *(label2id[t] for t in tags), 0, 0, 0]  # "peter" last


def test_predict_tags_reads_a_sentence_longer_than_the_model_to_its_end(tmp_path: Path) -> None:
    """A sentence of more sub-tokens than the model has positions is tagged word by word."""
    model = make_tiny_bert(tmp_path / "m", ["O", "B-PER"], max_length=16)
    words = ["john", "smith"] * 20
    loaded = load_token_classifier(str(model), device="cpu")
    widths: list[int] = []
    real: list[int] = []

    def count(_: object, args: tuple[object, ...], kwargs: dict[str, torch.Tensor]) -> None:
        widths.append(kwargs["input_ids"].shape[1])
        real.append(int(kwargs["attention_mask"].sum()))

    handle = loaded.model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        tags = predict_tags(str(model), [words], device="cpu")
    finally:
        handle.remove()
        clear_model_cache()
    assert len(tags[0]) == len(words)
    assert max(widths) <= 16
    assert sum(real) >= len(words) + 2  # every word read, not cut at the 14th


def test_train_on_several_sources_with_context(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from kgbuild.readers.ner_sources import parse_source

    train, dev, base = data
    docred = _write_docred(tmp_path / "docred.json")
    wnut = tmp_path / "wnut.conll"
    wnut.write_text(
        "Mary\tB-person\nat\tO\nAcme\tB-group\nplays\tO\nTetris\tB-creative-work\n",
        encoding="utf-8",
    )
    result = train_ner(
        [
            parse_source(f"conll:{train}"),
            parse_source(f"docred:{docred}@1:3"),
            parse_source(f"wnut17:{wnut}"),
        ],
        [parse_source(f"conll:{dev}"), parse_source(f"docred:{docred}@0:1")],
        base=str(base),
        out=tmp_path / "model",
        max_steps=3,
        batch_size=8,
        lora_rank=4,
        context=True,
        max_length=64,
        device="cpu",
        bf16=False,
    )
    assert {label[2:] for label in result.labels if label != "O"} == {
        "PER",
        "ORG",
        "LOC",
        "MISC",
        "TIME",
        "NUM",
    }
    manifest = json.loads((tmp_path / "model" / "kgbuild_model.json").read_text(encoding="utf-8"))
    assert manifest["context"] is True
    card = json.loads((tmp_path / "model" / "model_card.json").read_text(encoding="utf-8"))
    train_data = card["data"]["train"]
    assert [e["format"] for e in train_data] == ["conll", "docred", "wnut17"]
    assert train_data[1]["documents"] == [1, 3] and train_data[1]["sentences"] == 4
    assert [e["masked_unannotated_dates_numbers"] for e in train_data] == [True, False, True]
    assert set(card["dev_scores_by_source"]) == {f"conll:{dev}", f"docred:{docred}@0:1"}
    # CoNLL dev is scored on its own types only: no TIME or NUM
    assert set(card["dev_scores_by_source"][f"conll:{dev}"]["per_type"]) <= {"PER", "ORG", "LOC"}
    readme = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert "Reads document context: yes" in readme and f"docred:{docred}@1:3" in readme


def test_a_conll_file_of_ones_own_types_alone_keeps_the_o_of_its_numbers(
    tmp_path: Path,
) -> None:
    """Only beside types it does not annotate (TIME, NUM) is a CoNLL file's O on numbers
    masked: a file of one's own types alone is the whole truth of its words."""
    base = make_tiny_bert(tmp_path / "base", ["O"])
    rows = [("Gleevec", "B-DRUG"), ("50", "B-DOSE"), ("mg", "I-DOSE"), ("in", "O"), ("2019", "O")]
    train = tmp_path / "train.txt"
    train.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in rows) for _ in range(8)) + "\n")
    options: dict[str, Any] = {"batch_size": 4, "max_steps": 1, "lora_rank": 4, "device": "cpu"}
    split = split_keywords(options, NerOptions, base=str(base), out=tmp_path / "m", epochs=1)
    task = NerTask(train, train, *split)
    task.prepare()
    assert task.masked == [False]  # "2019" is taught as O, not left out of the loss
    train_ner(train, train, base=str(base), out=tmp_path / "m", epochs=1, bf16=False, **options)
    card = json.loads((tmp_path / "m" / "model_card.json").read_text(encoding="utf-8"))
    assert card["data"]["train"][0]["masked_unannotated_dates_numbers"] is False
    readme = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "O on dates and numbers masked" not in readme


def test_evaluate_docred_scores_every_gold_mention_by_type(tmp_path: Path) -> None:
    from kgbuild.readers.ner_sources import NerSource

    docred = _write_docred(tmp_path / "docred.json")
    model = make_tiny_bert(tmp_path / "model", ["O", "B-PER", "I-PER", "B-TIME", "B-LOC"])
    scores = evaluate_ner(str(model), docred, data_format="docred", docs=(0, 2), device="cpu")
    support = {name: prf.support for name, prf in scores.per_type.items() if prf.support}
    # two documents; the nested "London Paris" (document 0) counts as a gold mention too
    assert support == {"PER": 2, "ORG": 2, "LOC": 4, "TIME": 2, "NUM": 2, "MISC": 1}
    only = evaluate_ner(
        str(model), NerSource(format="docred", path=docred, docs=(2, None)), types=["PER", "TIME"]
    )
    assert set(only.per_type) <= {"PER", "TIME"} and only.micro.support == 2


def test_evaluating_on_no_sentences_is_an_error_not_a_score_of_zero(tmp_path: Path) -> None:
    from kgbuild.readers.ner_sources import NerSource

    model = make_tiny_bert(tmp_path / "model", ["O", "B-PER", "I-PER"])
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no sentences in"):
        evaluate_ner(str(model), empty, device="cpu")
    docred = _write_docred(tmp_path / "docred.json")
    with pytest.raises(InputError, match="no sentences in"):  # documents past the file's end
        evaluate_ner(str(model), NerSource(format="docred", path=docred, docs=(50, 60)))


def test_a_max_length_over_the_base_models_positions_is_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The tiny base has 128 positions: 256 failed at the first batch with a tensor error."""
    train, dev, base = data
    with pytest.raises(InputError, match=r"longer than base model .* \(128 positions\)"):
        train_ner(train, dev, base=str(base), out=tmp_path / "m", epochs=1, max_length=256)
    assert not (tmp_path / "m" / "kgbuild_model.json").exists()


def test_a_malformed_language_code_is_refused_before_training(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    train, dev, base = data
    with pytest.raises(InputError, match="language codes such as 'en'"):
        train_ner(train, dev, base=str(base), out=tmp_path / "m", epochs=1, languages=("en!",))
    assert not (tmp_path / "m").exists()


def _bmes(path: Path, sentences: int, seed: int) -> Path:
    """Invented character BMES: a name, a country or a title among filler characters."""
    rng = random.Random(seed)
    filler = list("的了在是我有和人这中大为上个国")
    blocks = []
    for _ in range(sentences):
        rows = [(c, "O") for c in rng.sample(filler, 4)]
        text, kind = rng.choice([("张伟", "NAME"), ("法国", "CONT"), ("经理", "TITLE")])
        at = rng.randrange(len(rows) + 1)
        rows[at:at] = [(text[0], f"B-{kind}"), (text[1], f"E-{kind}")]
        blocks.append("\n".join(f"{c} {t}" for c, t in rows))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def test_label_map_renames_and_drops_types_and_keeps_bio_valid() -> None:
    from kgbuild.readers.conll import TaggedSentence
    from kgbuild.training.ner import check_label_map, relabelled

    sentence = TaggedSentence(
        tokens=tuple("abcdefg"),
        tags=("B-NAME", "I-NAME", "B-TITLE", "I-TITLE", "B-CONT", "I-CONT", "B-LOC"),
    )
    mapping = {"NAME": "PER", "TITLE": "O", "CONT": "LOC"}
    check_label_map(mapping, [[[sentence]]])
    [[[renamed]]] = relabelled([[[sentence]]], mapping)
    assert renamed.tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "B-LOC")
    iobes = TaggedSentence(tokens=tuple("abc"), tags=("S-NAME", "B-CONT", "E-CONT"))
    [[[renamed]]] = relabelled([[[iobes]]], mapping)
    assert renamed.tags == ("S-PER", "B-LOC", "E-LOC")
    with pytest.raises(InputError, match=r"NAMEX, which no source has .*CONT, LOC, NAME, TITLE"):
        check_label_map({"NAMEX": "PER"}, [[[sentence]]])
    with pytest.raises(InputError, match="cannot be an entity type"):
        check_label_map({"NAME": "B-PER"}, [[[sentence]]])


def test_added_characters_are_trained_saved_and_read_back(tmp_path: Path) -> None:
    """A Chinese model over a vocabulary without its characters: they get their own rows."""
    from transformers import AutoTokenizer

    from kgbuild.nlp.tiny import DEFAULT_TINY_VOCAB

    unknown = set("张伟法经理")
    vocab = [token for token in DEFAULT_TINY_VOCAB if token not in unknown]
    base = make_tiny_bert(tmp_path / "base", ["O"], vocab=vocab)
    train, dev = _bmes(tmp_path / "train.bmes", 48, 0), _bmes(tmp_path / "dev.bmes", 8, 1)
    settings: dict[str, Any] = {
        "base": str(base),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 5e-3,
        "lora_rank": 4,
        "seed": 0,
        "bf16": False,
        "device": "cpu",
        "data_format": "bmes",
        "label_map": {"NAME": "PER", "CONT": "LOC", "TITLE": "O"},
    }
    result = train_ner(train, dev, out=tmp_path / "zh", add_characters=True, **settings)
    assert result.labels == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    # the saved model is scored on the renamed types too (gold NAME against predicted PER
    # would score nothing)
    card = json.loads((result.out_dir / "model_card.json").read_text(encoding="utf-8"))
    assert set(card["dev_scores"]["per_type"]) == {"PER", "LOC"}
    assert card["hyperparameters"]["label_map"] == settings["label_map"]
    rescored = evaluate_ner(
        str(result.out_dir), dev, data_format="bmes", label_map=settings["label_map"]
    )
    assert rescored.micro.f1 == pytest.approx(result.dev.micro.f1)
    manifest = json.loads((result.out_dir / "kgbuild_model.json").read_text(encoding="utf-8"))
    # "国" is in the tiny vocabulary; "法" and the others occur in the data and were [UNK]
    assert manifest["added_characters"] == len(unknown)
    saved = AutoTokenizer.from_pretrained(str(result.out_dir))
    ids = saved("张伟去法国", add_special_tokens=False)["input_ids"]
    assert saved.unk_token_id not in ids
    before = AutoTokenizer.from_pretrained(str(base))
    assert before("张伟", add_special_tokens=False)["input_ids"] == [before.unk_token_id] * 2

    clear_model_cache()
    loaded = load_token_classifier(str(result.out_dir), device="cpu")
    rows = loaded.model.get_input_embeddings().weight
    assert rows.shape[0] == len(saved) == len(vocab) + len(unknown)
    # the new rows were trained and saved: they differ from the rows a resize starts with
    from transformers import AutoModelForTokenClassification

    from kgbuild.nlp.hf import resize_embeddings

    fresh = AutoModelForTokenClassification.from_pretrained(str(base))
    resize_embeddings(fresh, len(saved))
    start = fresh.get_input_embeddings().weight
    new = slice(len(vocab), len(saved))
    assert not torch.allclose(rows[new].float(), start[new].float(), atol=1e-3)
    assert torch.allclose(rows[: len(vocab)].float(), start[: len(vocab)].float(), atol=1e-2)

    plain = train_ner(train, dev, out=tmp_path / "plain", **settings)
    assert "added_characters" not in json.loads(
        (plain.out_dir / "kgbuild_model.json").read_text(encoding="utf-8")
    )
    clear_model_cache()


def test_adding_characters_to_a_continued_model_is_refused(
    data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    train, dev, base = data
    with pytest.raises(InputError, match="cannot continue an --init model"):
        train_ner(train, dev, base=str(base), out=tmp_path / "m", init=base, add_characters=True)
