import gc
import weakref

import pytest

from kgbuild.collection import existing_objects_frozen, fewer_collections, long_lived


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


@pytest.fixture
def nothing_frozen() -> None:
    """Start with no frozen objects, whatever an earlier test in this process froze."""
    gc.unfreeze()


class _Node:
    """A container that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.mark.usefixtures("nothing_frozen")
def test_existing_objects_are_frozen_only_inside_the_block() -> None:
    kept = [[i] for i in range(1_000)]
    with pytest.raises(RuntimeError), existing_objects_frozen():
        assert gc.get_freeze_count() >= len(kept)
        raise RuntimeError("write failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("nothing_frozen")
def test_garbage_made_inside_the_block_is_still_collected() -> None:
    with existing_objects_frozen():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        watch = weakref.ref(a)
        del a, b
        gc.collect()
        assert watch() is None


def test_an_earlier_freeze_is_left_alone() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        # frozen objects that other threads free leave the count (a few, in a long session):
        # what must not happen is the block unfreezing everything on its way out
        with existing_objects_frozen():
            assert gc.get_freeze_count() > frozen // 2
        assert gc.get_freeze_count() > frozen // 2  # not unfrozen by the block
    finally:
        gc.unfreeze()
