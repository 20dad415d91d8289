"""haptics.heap: the objects alive when a real-time loop starts are frozen out of the
garbage collector's passes while it runs, and given back when the last loop ends."""

from __future__ import annotations

import gc
import threading

import pytest

from haptics import heap
from haptics.heap import CollectorPauses, collector_kept_out


@pytest.fixture(autouse=True)
def no_loop_running():
    """These tests count frozen objects from zero: a real-time loop left running in this
    process by an earlier test (a failure's thread) would keep the heap frozen."""
    if heap._loops or gc.get_freeze_count():
        pytest.skip("a real-time loop of an earlier test still runs in this process")


def test_a_loop_runs_with_the_start_up_heap_frozen_and_gives_it_back():
    before = gc.get_freeze_count()
    with collector_kept_out() as frozen:
        # modules, functions, the test run (frozen objects freed meanwhile leave the count)
        assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == before == 0


def test_a_full_pass_during_the_loop_walks_only_what_the_loop_made():
    """What a full pass costs is the objects it walks: ~200,000 alive after a server's
    start-up, a few inside a loop that keeps little."""
    made = [[i] for i in range(50_000)]  # start-up: long-lived objects
    with collector_kept_out():
        assert len(gc.get_objects()) < 1000  # made is frozen; gc.get_objects skips it
        with CollectorPauses() as pauses:
            gc.collect()
        assert pauses.full == 1 and pauses.collections == 1
    assert len(gc.get_objects()) > 50_000
    del made


def test_loops_in_several_threads_share_the_freeze_and_the_last_one_out_gives_it_back():
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def second_loop():
        with collector_kept_out():
            entered.set()
            release.wait(10)
        seen["after_second"] = gc.get_freeze_count()

    with collector_kept_out():
        thread = threading.Thread(target=second_loop)
        thread.start()
        assert entered.wait(10)
        release.set()
        thread.join(10)
        assert seen["after_second"] > 0  # the first loop still runs: still frozen
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_the_freeze_is_given_back_when_the_loop_raises():
    try:
        with collector_kept_out():
            raise RuntimeError("the loop failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0


def test_the_pause_meter_times_collections_and_counts_full_ones():
    with CollectorPauses() as pauses:
        gc.collect(0)
        gc.collect(2)
    assert pauses.collections == 2 and pauses.full == 1
    assert 0.0 < pauses.longest_s < 5.0
    gc.collect()  # after close: no longer counted
    assert pauses.collections == 2
    pauses.close()  # twice is harmless
