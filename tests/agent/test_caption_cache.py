"""Chat caches: a repeated or concurrent epoch question reads the night and runs the model once."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest
from sleeplm.agent import night_tools
from sleeplm.agent.context import ToolContext
from sleeplm.agent.state import SessionState, ToolConfig
from sleeplm.app.service import SharedCohort
from sleeplm.index.caption_cache import ChatCache, OnceLRU
from sleeplm.index.queries import Cohort

N_SESSIONS = 6


class CountingCaptions:
    """Wraps ``model.caption_batch``: counts calls and the epochs each was given."""

    def __init__(self, inner, before=None):
        self.inner, self.before = inner, before
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, x, tracks, **kwargs):
        with self.lock:
            self.calls.append(len(x))
        if self.before is not None:
            self.before()
        return self.inner(x, tracks, **kwargs)


@pytest.fixture(scope="module")
def cohort(sim_workspace: Path):
    c = Cohort(sim_workspace)
    c.caption_store = None  # this module is about the in-memory cache (the workspace's store: below)
    yield c
    c.close()


def test_second_identical_caption_request_does_not_call_the_model(cohort, tmp_path, monkeypatch):
    spy = CountingCaptions(cohort.model.caption_batch)
    monkeypatch.setattr(cohort.model, "caption_batch", spy)
    ctx = ToolContext(cohort, SessionState(), ToolConfig(caption_max_len=4), tmp_path, cache=ChatCache())
    name = cohort.recordings()[0]
    first = night_tools.caption_epochs(ctx, recording=name, epoch=3)
    second = night_tools.caption_epochs(ctx, recording=name, epoch=3)
    assert spy.calls == [1]
    assert second["epochs"][0]["model"] == first["epochs"][0]["model"]
    assert set(first["epochs"][0]["model"]) == set(first["tracks"])


def test_only_uncached_epochs_of_a_range_are_generated(cohort, tmp_path, monkeypatch):
    spy = CountingCaptions(cohort.model.caption_batch)
    monkeypatch.setattr(cohort.model, "caption_batch", spy)
    ctx = ToolContext(cohort, SessionState(), ToolConfig(caption_max_len=4), tmp_path, cache=ChatCache())
    name = cohort.recordings()[0]
    night_tools.caption_epochs(ctx, recording=name, epoch=5, tracks=["stage_event"])
    out = night_tools.caption_epochs(ctx, recording=name, epoch=4, end_epoch=7, tracks=["stage_event"])
    assert spy.calls == [1, 3]
    assert [e["epoch_index"] for e in out["epochs"]] == [4, 5, 6, 7]
    assert all(e["model"]["stage_event"] for e in out["epochs"])


def test_cached_captions_equal_a_fresh_generation(cohort, tmp_path):
    name = cohort.recordings()[0]
    cached = ToolContext(cohort, SessionState(), ToolConfig(caption_max_len=4), tmp_path, cache=ChatCache())
    night_tools.caption_epochs(cached, recording=name, epoch=2, end_epoch=4, tracks=["stage_event"])
    from_cache = night_tools.caption_epochs(cached, recording=name, epoch=3, tracks=["stage_event"])
    fresh = ToolContext(cohort, SessionState(), ToolConfig(caption_max_len=4), tmp_path, cache=ChatCache())
    direct = night_tools.caption_epochs(fresh, recording=name, epoch=3, tracks=["stage_event"])
    assert from_cache["epochs"][0]["model"] == direct["epochs"][0]["model"]


def test_concurrent_identical_caption_requests_compute_once(sim_workspace, tmp_path):
    shared = SharedCohort(sim_workspace)
    try:
        cache = shared.cache
        assert cache is not None

        def hold_until_others_wait() -> None:  # every other session is waiting on this computation
            deadline = time.monotonic() + 60
            while cache.captions.stats().waits < N_SESSIONS - 1 and time.monotonic() < deadline:
                time.sleep(0.01)

        spy = CountingCaptions(shared.cohort.model.caption_batch, before=hold_until_others_wait)
        shared.cohort.model.caption_batch = spy
        shared.cohort.caption_store = None  # the in-memory cache alone (the views copy the cohort)
        name = shared.cohort.recordings()[1]
        results, errors = [], []
        start = threading.Barrier(N_SESSIONS)

        def session() -> None:
            try:
                with shared.reading():
                    ctx = ToolContext(shared.view(), SessionState(), ToolConfig(caption_max_len=4), tmp_path)
                    start.wait()
                    results.append(night_tools.caption_epochs(ctx, recording=name, epoch=6, tracks=["stage_event"]))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=session) for _ in range(N_SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert spy.calls == [1]
        assert cache.signals.stats().misses == 1
        assert len({r["epochs"][0]["model"]["stage_event"] for r in results}) == 1
        assert len(results) == N_SESSIONS
    finally:
        shared.close()


def test_sessions_of_the_shared_cohort_share_one_signal_read(sim_workspace, tmp_path):
    shared = SharedCohort(sim_workspace)
    try:
        with shared.reading():
            a = ToolContext(shared.view(), SessionState(), ToolConfig(), tmp_path)
            b = ToolContext(shared.view(), SessionState(), ToolConfig(), tmp_path)
            n = a.night(shared.cohort.recordings()[0])
            assert a.signals(n) is b.signals(b.night(n.recording))
        assert shared.cache is not None and shared.cache.signals.stats().misses == 1
    finally:
        shared.close()


def test_a_failed_computation_reaches_every_waiter_and_is_not_kept():
    lru = OnceLRU(4)
    entered, release = threading.Event(), threading.Event()
    calls, outcomes = [], []

    def fail() -> int:
        calls.append(1)
        entered.set()
        release.wait(10)
        raise ValueError("recording file missing")

    def ask() -> None:
        try:
            outcomes.append(lru.get("night", fail))
        except ValueError as exc:
            outcomes.append(str(exc))

    first = threading.Thread(target=ask)
    first.start()
    entered.wait(10)
    second = threading.Thread(target=ask)
    second.start()
    while lru.stats().waits < 1:
        time.sleep(0.005)
    release.set()
    first.join(10)
    second.join(10)
    assert calls == [1]
    assert outcomes == ["recording file missing"] * 2
    assert lru.get("night", lambda: 7) == 7


def test_the_lru_keeps_at_most_max_items_and_drops_the_least_recently_used():
    lru = OnceLRU(2)
    lru.get("a", lambda: 1)
    lru.get("b", lambda: 2)
    lru.get("a", lambda: 0)  # a is now the most recent
    lru.get("c", lambda: 3)
    assert lru.get("a", lambda: -1) == 1
    assert lru.get("b", lambda: -2) == -2
    assert lru.stats().size == 2


def test_a_caption_generated_once_is_read_from_the_workspace_by_a_later_cohort(sim_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(sim_workspace, ws)
    first = Cohort(ws)
    try:
        name = first.recordings()[0]
        ctx = ToolContext(first, SessionState(), ToolConfig(caption_max_len=4), tmp_path / "f1", cache=ChatCache())
        generated = night_tools.caption_epochs(ctx, recording=name, epoch=2, tracks=["stage_event", "cardiac"])
    finally:
        first.close()
    later = Cohort(ws)  # another server or `sleeplm ask`: an empty in-memory cache
    try:
        spy = CountingCaptions(later.model.caption_batch)
        later.model.caption_batch = spy
        ctx = ToolContext(later, SessionState(), ToolConfig(caption_max_len=4), tmp_path / "f2", cache=ChatCache())
        again = night_tools.caption_epochs(ctx, recording=name, epoch=2, tracks=["stage_event", "cardiac"])
    finally:
        later.close()
    assert spy.calls == []
    assert again["epochs"][0]["model"] == generated["epochs"][0]["model"]


def test_stored_captions_are_keyed_by_the_recording_file_digest(cohort):
    name = cohort.recordings()[0]
    record = cohort.night_record(name)
    assert record.sha256 == hashlib.sha256(Path(record.path).read_bytes()).hexdigest()
