import gc

import pytest

from kgbuild.collection import fewer_collections, long_lived


def test_threshold_is_restored_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections(5_000):
        assert gc.get_threshold() == (5_000, *before[1:])
        raise RuntimeError("stage failed")
    assert gc.get_threshold() == before


def test_never_collects_more_often_than_the_caller_asked() -> None:
    before = gc.get_threshold()
    gc.set_threshold(50_000, *before[1:])
    try:
        with fewer_collections(10_000):
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)


def test_long_lived_freezes_what_it_made_and_gives_the_collector_back() -> None:
    before = gc.get_freeze_count()
    try:
        with long_lived():
            assert not gc.isenabled()
            kept = [[i] for i in range(1_000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(kept)  # later collections skip them
    finally:
        gc.unfreeze()


def test_long_lived_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with long_lived():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
