"""Integer code arrays: grouping rows by equal tuples of codes with numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def unique_codes(codes: IntArray) -> IntArray:
    """Sorted unique values (sort + mask; faster than ``np.unique`` here)."""
    if len(codes) == 0:
        return codes
    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]]


def dense_codes(codes: IntArray) -> IntArray:
    """Renumber codes to ``0..m-1`` keeping their order (``O(n log n)``)."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    dense = np.empty(len(codes), dtype=np.int64)
    dense[order] = np.cumsum(np.r_[0, ordered[1:] != ordered[:-1]])
    return dense


def combine_codes(*codes: IntArray) -> IntArray:
    """One int64 code per row for a tuple of non-negative code arrays (mixed radix).

    Equal tuples get equal codes; rows are renumbered densely whenever the next
    digit would overflow int64.
    """
    out = np.zeros(len(codes[0]), dtype=np.int64)
    for code in codes:
        radix = int(code.max(initial=0)) + 1
        if (int(out.max(initial=0)) + 1) * radix >= 2**62:
            out = dense_codes(out)
        out = out * radix + code
    return out


def block_sizes(block: IntArray) -> IntArray:
    """Size of each row's block (rows with equal codes)."""
    order = np.argsort(block, kind="stable")
    ordered = block[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    sizes = np.empty(len(block), dtype=np.int64)
    sizes[order] = np.repeat(counts, counts)
    return sizes
