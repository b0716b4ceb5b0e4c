"""Sentence embeddings: bf16 where the hardware has it, the same neighbours as fp32."""

from __future__ import annotations

import pytest
import torch

from kgbuild.nlp.hf import bf16_supported
from kgbuild.nlp.sentence_encoder import (
    DEFAULT_SENTENCE_ENCODER,
    MAX_TOKENS,
    SentenceEncoder,
    load_sentence_encoder,
)

SENTENCES = [
    "Paris is the capital of France.",
    "The film was directed by Sofia Coppola and released in 2003.",
    "He was born in Norwich and studied law at Cambridge.",
    "The company was founded in 1998 by two engineers from Leeds.",
    "The river rises in the Alps and flows into the Black Sea.",
    "Barrayar is a science fiction novel written by Lois McMaster Bujold.",
]
QUESTIONS = [
    "Who directed the film?",
    "Where was he born?",
    "When was the company founded?",
    "Who wrote Barrayar?",
]


def test_precision_follows_the_setting_and_the_hardware() -> None:
    auto = load_sentence_encoder(DEFAULT_SENTENCE_ENCODER, "cpu")
    assert auto.bf16 == bf16_supported(torch.device("cpu"))
    assert load_sentence_encoder(DEFAULT_SENTENCE_ENCODER, "cpu", "fp32").bf16 is False
    assert load_sentence_encoder(DEFAULT_SENTENCE_ENCODER, "cpu", "bf16").bf16 is True
    # One shared instance per model, device and precision.
    assert load_sentence_encoder(DEFAULT_SENTENCE_ENCODER, "cpu") is auto


def test_bf16_embeddings_rank_sentences_as_fp32_does() -> None:
    fp32 = SentenceEncoder(device="cpu", precision="fp32")
    bf16 = SentenceEncoder(device="cpu", precision="bf16")
    texts = SENTENCES + QUESTIONS
    exact, rounded = fp32.encode(texts), bf16.encode(texts)
    assert rounded.dtype == torch.float32
    assert torch.allclose(rounded.norm(dim=1), torch.ones(len(texts)), atol=1e-5)
    assert (exact * rounded).sum(dim=1).min() > 0.999
    similarity_exact = exact[len(SENTENCES) :] @ exact[: len(SENTENCES)].T
    similarity_rounded = rounded[len(SENTENCES) :] @ rounded[: len(SENTENCES)].T
    assert torch.equal(similarity_exact.argmax(dim=1), similarity_rounded.argmax(dim=1))
    assert similarity_exact.argmax(dim=1).tolist() == [1, 2, 3, 5]
    assert (similarity_exact - similarity_rounded).abs().max() < 0.01


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_text_embeds_alike_alone_and_in_a_batch(precision: str) -> None:
    """Padding to a shape bucket changes nothing a text's own tokens see."""
    encoder = SentenceEncoder(device="cpu", precision=precision)
    together = encoder.encode(SENTENCES)
    encoder._cache.clear()
    alone = torch.cat([encoder.encode([text]) for text in SENTENCES])
    assert torch.allclose(together, alone, atol=0.01 if precision == "bf16" else 1e-5)


def test_texts_of_different_lengths_are_not_padded_to_the_longest() -> None:
    """A long paragraph is read in its own batch, not as the width of the short questions'."""
    encoder = SentenceEncoder(device="cpu", precision="fp32")
    widths: list[tuple[int, int]] = []  # (padded tokens, real tokens) per forward pass

    def count(_: object, args: tuple[object, ...], kwargs: dict[str, torch.Tensor]) -> None:
        mask = kwargs["attention_mask"]
        widths.append((mask.numel(), int(mask.sum())))

    handle = encoder.model.register_forward_pre_hook(count, with_kwargs=True)
    paragraph = " ".join(SENTENCES * 3)
    try:
        vectors = encoder.encode([*QUESTIONS, paragraph, *SENTENCES])
    finally:
        handle.remove()
    padded, real = sum(w for w, _ in widths), sum(r for _, r in widths)
    assert len(widths) > 1
    assert padded < 1.3 * real  # one batch of all eleven would be about 4x
    encoder._cache.clear()
    assert torch.allclose(vectors[len(QUESTIONS)], encoder.encode([paragraph])[0], atol=1e-5)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> SentenceEncoder:
    """A tiny random BERT of 128 positions (one window is all it can read at once)."""
    from kgbuild.nlp.tiny import make_tiny_bert

    path = make_tiny_bert(tmp_path_factory.mktemp("tiny-encoder") / "model", ["O"], seed=0)
    return SentenceEncoder(str(path), device="cpu", precision="fp32")


def test_a_text_longer_than_a_window_is_read_to_its_end(tiny_encoder: SentenceEncoder) -> None:
    """Two texts that differ only past the first MAX_TOKENS tokens embed differently."""
    start = " ".join(["the city of paris"] * 60)  # 240 words, each one token
    texts = [f"{start} london bank market", f"{start} tokyo police court"]
    assert all(len(tiny_encoder.tokenizer(t)["input_ids"]) > MAX_TOKENS + 100 for t in texts)
    first, second = tiny_encoder.encode(texts)
    assert not torch.allclose(first, second, atol=1e-4)
    assert torch.allclose(first.norm(), torch.tensor(1.0), atol=1e-5)


def test_a_long_text_is_the_mean_of_its_windows_tokens(tiny_encoder: SentenceEncoder) -> None:
    """Each window framed by [CLS] ... [SEP]; a text that fits is read as before."""
    from kgbuild.nlp.sentence_encoder import _windows

    short = "the city of paris"
    ids = tiny_encoder.tokenizer([short, " ".join([short] * 60)])["input_ids"]
    windows, owner = _windows(ids, MAX_TOKENS)
    assert windows[0] == ids[0]
    assert owner == [0, 1, 1]
    assert all(len(w) <= MAX_TOKENS and w[0] == ids[1][0] and w[-1] == ids[1][-1] for w in windows)
    assert [t for w in windows[1:] for t in w[1:-1]] == ids[1][1:-1]
