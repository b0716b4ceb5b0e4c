"""Sentence-context similarity as a veto on merges (``resolve.context_similarity``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.codes import IntArray

KeyPairVeto = Callable[[list[tuple[int, int]]], list[bool]]
"""Given key pairs about to merge, say which may (context similarity)."""


def context_veto(
    key_of_mention: IntArray, contexts: Sequence[str], config: ResolveConfig
) -> KeyPairVeto:
    """A veto that keeps a key pair when its names' sentence contexts are similar enough.

    A name's context is the mean embedding of up to ``context_max_sentences`` of its
    mentions' sentences (distinct, in sorted order, the mention's own text removed); a
    pair is kept when the cosine reaches ``context_min_similarity`` or a side has no
    sentence.
    """
    import torch

    from kgbuild.nlp.sentence_encoder import load_sentence_encoder

    # fp32: a merge decided by a cut-off must not move with the batch a sentence is in
    encoder = load_sentence_encoder(config.context_model, precision="fp32")
    order = np.argsort(key_of_mention, kind="stable")
    bounds = np.searchsorted(
        key_of_mention[order], np.arange(int(key_of_mention.max(initial=-1)) + 2)
    )
    vectors: dict[int, torch.Tensor | None] = {}

    def sentences(k: int) -> list[str]:
        found = {contexts[i] for i in order[bounds[k] : bounds[k + 1]].tolist() if contexts[i]}
        return sorted(found)[: config.context_max_sentences]

    def veto(pairs: list[tuple[int, int]]) -> list[bool]:
        wanted = sorted({k for pair in pairs for k in pair} - vectors.keys())
        texts = {k: sentences(k) for k in wanted}
        encoded = encoder.encode(sorted({t for found in texts.values() for t in found}))
        row = {t: i for i, t in enumerate(sorted({t for found in texts.values() for t in found}))}
        for k, found in texts.items():
            mean = encoded[[row[t] for t in found]].mean(0) if found else None
            vectors[k] = None if mean is None else torch.nn.functional.normalize(mean, dim=0)
        keep = []
        for a, b in pairs:
            va, vb = vectors[a], vectors[b]
            keep.append(va is None or vb is None or float(va @ vb) >= config.context_min_similarity)
        return keep

    return veto
