"""Length-sorted batches that do not pad a short sequence to a much longer one's width.

Every model stage pads a batch to its longest sequence. With length-sorted batches of a
fixed size, a batch that starts with a 460-token window and ends with 120-token ones
spends most of its work on padding: on Re-DocRED documents read by the NER stage, 37%
of the tokens fed to the encoder were padding. :func:`length_batches` closes a batch
early once padding would pass a share of it, so the short sequences ride together in a
narrower batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "MAX_PADDING",
    "SHAPE_MULTIPLE",
    "length_batches",
    "pad_batch",
    "shape_bucket",
    "shape_multiple",
]

MAX_PADDING = 0.1
"""Default largest share of a batch's padded tokens that may be padding."""

SHAPE_MULTIPLE = 16
"""Batch widths are rounded up to a multiple of this many tokens (see :func:`shape_bucket`)."""


def shape_bucket(size: int, multiple: int = SHAPE_MULTIPLE, *, limit: int | None = None) -> int:
    """``size`` rounded up to a multiple of ``multiple``: the padded size of a batch.

    On CPU, oneDNN builds a matrix-multiply kernel for every new matrix shape it sees (about
    10 ms for a bf16 layer on AMX hardware), so batches of ever new widths pay for a kernel
    each time; a few widths, reused, pay once. Padded rows are masked or cut off after.
    ``limit`` (a model's longest input) caps the rounding, never ``size`` itself.

    >>> shape_bucket(1), shape_bucket(16), shape_bucket(17, 64), shape_bucket(500, limit=510)
    (16, 16, 64, 510)
    """
    if size < 0 or multiple < 1:
        raise ValueError(f"need size >= 0 and multiple >= 1, got {size} and {multiple}")
    bucket = -(-size // multiple) * multiple
    return bucket if limit is None else max(size, min(bucket, limit))


def shape_multiple(bf16: bool, device_type: str) -> int:
    """The width multiple of a token classifier's batches: :data:`SHAPE_MULTIPLE`, or 1.

    Buckets pay where a new shape costs a kernel build (bf16 on CPU, about 10 ms a layer)
    and on accelerators; in fp32 on a CPU they only pad. Measured on an AVX2 CPU without
    bf16 (2 cores), the NER stage with width multiples of 16, 8 and 1: 218, 238 and 265
    sentences/s on 1,000 CoNLL-2003 dev sentences (a sentence of 20 tokens was padded to
    32), NER-only builds of 100 Re-DocRED documents 7.2 and 6.1 s in the model, the same
    mentions and peak memory.
    """
    return SHAPE_MULTIPLE if bf16 or device_type != "cpu" else 1


def length_batches(
    lengths: Sequence[int], batch_size: int, *, max_padding: float = MAX_PADDING
) -> list[list[int]]:
    """Indices of ``lengths`` in batches, longest first, each padded to its first's width.

    A batch takes the longest sequences left, up to ``batch_size``, and stops before the
    sequence that would make more than ``max_padding`` of its ``rows x width`` tokens
    padding (a batch always holds at least one). Ties keep their input order. Same
    input, same batches.

    >>> length_batches([2, 10, 9, 2, 10], 4, max_padding=0.2)
    [[1, 4, 2], [0, 3]]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0.0 <= max_padding < 1.0:
        raise ValueError(f"max_padding must be in [0, 1), got {max_padding}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    width = real = 0
    for index in order:
        length = lengths[index]
        if current and (
            len(current) == batch_size
            or real + length < (1.0 - max_padding) * width * (len(current) + 1)
        ):
            batches.append(current)
            current, width, real = [], 0, 0
        if not current:
            width = length
        current.append(index)
        real += length
    if current:
        batches.append(current)
    return batches


def pad_batch(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    device: torch.device | str = "cpu",
    *,
    multiple: int = SHAPE_MULTIPLE,
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of ``sequences``, right-padded to a shared width.

    The width is the longest sequence's, rounded up by :func:`shape_bucket` (at most to
    ``limit``, the model's longest input).
    """
    import torch

    width = shape_bucket(max(len(ids) for ids in sequences), multiple, limit=limit)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids.to(device), mask.to(device)
