import random

import pytest

from kgbuild.nlp.batching import length_batches, pad_batch, shape_bucket, shape_multiple


@pytest.mark.parametrize("max_padding", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_batches_cover_every_index_once_longest_first_within_the_padding_share(
    batch_size: int, max_padding: float
) -> None:
    rng = random.Random(batch_size)
    lengths = [rng.choice([5, 12, 40, 41, 200, 510]) for _ in range(300)]
    batches = length_batches(lengths, batch_size, max_padding=max_padding)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths, reverse=True)
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        width = lengths[batch[0]]
        padding = 1 - sum(lengths[i] for i in batch) / (width * len(batch))
        assert padding <= max_padding + 1e-9


def test_a_short_sequence_does_not_ride_with_a_long_one() -> None:
    # the old fixed-size batches padded the three short windows to 460 tokens
    assert length_batches([460, 120, 118, 115], 32) == [[0], [1, 2, 3]]


def test_equal_lengths_fill_whole_batches_in_input_order() -> None:
    assert length_batches([7] * 5, 2, max_padding=0.0) == [[0, 1], [2, 3], [4]]
    assert length_batches([], 8) == []


@pytest.mark.parametrize(("batch_size", "max_padding"), [(0, 0.1), (4, 1.0), (4, -0.1)])
def test_bad_settings_are_refused(batch_size: int, max_padding: float) -> None:
    with pytest.raises(ValueError, match=r"batch_size|max_padding"):
        length_batches([3, 2], batch_size, max_padding=max_padding)


def test_shape_buckets_round_up_to_the_multiple() -> None:
    assert [shape_bucket(n, 16) for n in (0, 1, 15, 16, 17, 33)] == [0, 16, 16, 16, 32, 48]
    assert shape_bucket(5, 1) == 5
    assert [shape_bucket(n, 16, limit=20) for n in (3, 17, 20, 25)] == [16, 20, 20, 25]
    with pytest.raises(ValueError, match="multiple"):
        shape_bucket(5, 0)


def test_padded_batches_keep_every_token_and_mask_only_the_padding() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, multiple=4)
    assert ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=9, multiple=1)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.sum().item() == 4
    ids, _ = pad_batch([[5, 6, 7], [8]], pad_id=0, multiple=16, limit=5)  # a model's longest
    assert ids.shape == (2, 5)


def test_shape_multiples_bucket_bf16_and_accelerators_but_not_fp32_on_a_cpu() -> None:
    assert shape_multiple(True, "cpu") == 16
    assert shape_multiple(False, "cuda") == 16
    assert shape_multiple(False, "cpu") == 1
