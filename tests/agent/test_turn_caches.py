"""A chat turn's repeatable work is done once: figures, tool schemas, query vectors (shared by sessions)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from sleeplm.agent import ChatSession, plots
from sleeplm.agent.loop import tool_specs
from sleeplm.agent.tools import make_tools
from sleeplm.app.service import SharedCohort
from sleeplm.index.caption_cache import CachedTextModel, OnceLRU

STAGES = ["W", "N1", "N2", "N2", "N3", "REM"]
ONSETS_S = [30.0 * i for i in range(len(STAGES))]
EVENTS = [("obstructive_apnea", 60.0, 20.0)]


class CountingSaves:
    """Wraps :func:`sleeplm.agent.plots._save` (every figure is drawn through it) and counts its calls."""

    def __init__(self, inner):
        self.inner, self.calls, self.lock = inner, 0, threading.Lock()

    def __call__(self, fig, path):
        with self.lock:
            self.calls += 1
        return self.inner(fig, path)


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> CountingSaves:
    spy = CountingSaves(plots._save)
    monkeypatch.setattr(plots, "_save", spy)
    return spy


def test_a_figure_asked_twice_is_drawn_once(tmp_path: Path, saves: CountingSaves) -> None:
    cache = OnceLRU(8)
    first = plots.hypnogram(tmp_path / "a.png", ONSETS_S, STAGES, EVENTS, title="n1", cache=cache)
    second = plots.hypnogram(tmp_path / "b.png", ONSETS_S, STAGES, EVENTS, title="n1", cache=cache)
    assert saves.calls == 1
    assert second == tmp_path / "b.png"
    assert second.read_bytes() == first.read_bytes()


def test_a_figure_of_other_data_is_drawn_again(tmp_path: Path, saves: CountingSaves) -> None:
    cache = OnceLRU(8)
    plots.hypnogram(tmp_path / "a.png", ONSETS_S, STAGES, EVENTS, title="n1", cache=cache)
    changed = [*STAGES[:-1], "N2"]  # the last epoch rescored
    plots.hypnogram(tmp_path / "b.png", ONSETS_S, changed, EVENTS, title="n1", cache=cache)
    assert saves.calls == 2
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()


def test_a_cached_figure_equals_one_drawn_without_the_cache(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((3, 64 * 30))
    args = (x, ["ECG", "ABD", "THX"], [True, True, False], [("arousal", 3.0, 9.0)])
    plain = plots.epoch_signals(tmp_path / "plain.png", *args, title="t")
    cache = OnceLRU(8)
    plots.epoch_signals(tmp_path / "warm.png", *args, title="t", cache=cache)
    kept = plots.epoch_signals(tmp_path / "kept.png", *args, title="t", cache=cache)
    assert kept.read_bytes() == plain.read_bytes()


def test_concurrent_requests_for_one_figure_draw_it_once(tmp_path: Path, saves: CountingSaves) -> None:
    cache, start = OnceLRU(8), threading.Barrier(4)

    def ask(i: int) -> None:
        start.wait()
        plots.hypnogram(tmp_path / f"{i}.png", ONSETS_S, STAGES, EVENTS, cache=cache)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert saves.calls == 1
    assert len({(tmp_path / f"{i}.png").read_bytes() for i in range(4)}) == 1


def test_tool_schemas_equal_langchains_own_conversion(cohort) -> None:
    tools = make_tools(cohort)
    assert tool_specs(tools) == [convert_to_openai_tool(t) for t in tools]
    assert tool_specs(make_tools(cohort)) == tool_specs(tools)  # another session's tools, same schemas


class CountingTexts:
    """A model stand-in whose ``encode_text`` delegates to the real one and counts calls."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def encode_text(self, texts):
        self.calls += 1
        return self.model.encode_text(texts)


def test_a_query_vector_is_encoded_once_and_equals_the_models_own(cohort) -> None:
    counting = CountingTexts(cohort.model)
    cached = CachedTextModel(counting, OnceLRU(8), cohort.manifest.model_sha256)
    text = "obstructive apnea in REM sleep"
    first, second = cached.encode_text([text]), cached.encode_text([text])
    assert counting.calls == 1
    assert np.array_equal(first, cohort.model.encode_text([text]))
    assert np.array_equal(second, first)
    second[0, 0] += 1.0  # a caller's copy: changing it leaves the kept vector alone
    assert np.array_equal(cached.encode_text([text]), first)


def test_a_batch_of_texts_goes_to_the_model_uncached(cohort) -> None:
    counting = CountingTexts(cohort.model)
    cached = CachedTextModel(counting, OnceLRU(8), cohort.manifest.model_sha256)
    cached.encode_text(["wake", "N2 sleep"])
    cached.encode_text(["wake", "N2 sleep"])
    assert counting.calls == 2


def _questions(names: list[str]) -> list[str]:
    a, b = names[0], names[1]
    return [
        "How many nights are in the cohort?",
        "Compare AHI between phenotypes.",
        f"Show the hypnogram of {a} with its events.",
        "Which nights have the lowest sleep efficiency?",
        "Find epochs with obstructive apnea in N2 sleep.",
        f"Which nights are most similar to {b}?",
        f"Show the signals of epoch 4 of {b}.",
        f"Caption epoch 6 of {a}.",
        f"Where are the arousals in {a}?",
    ]


@pytest.fixture
def one_torch_thread():
    """As the page runs (``sleeplm.app.web.serve``): one torch thread, the model's small steps do not spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _turn(session: ChatSession, question: str) -> tuple[str, list[bytes]]:
    turn = session.respond(question)
    return turn.answer, [Path(f).read_bytes() for f in turn.figures]


def test_answers_and_figures_are_identical_with_and_without_the_shared_caches(sim_workspace: Path, cohort,
                                                                              one_torch_thread) -> None:
    questions = _questions(cohort.recordings())
    plain = [_turn(ChatSession(cohort), q) for q in questions]  # a fresh session (own, empty caches) each
    shared = SharedCohort(sim_workspace)
    try:
        with shared.reading():
            cold = [_turn(ChatSession(shared.view()), q) for q in questions]
            warm = [_turn(ChatSession(shared.view()), q) for q in questions]  # from the shared caches
            figures = shared.cache.figures.stats()
    finally:
        shared.close()
    assert cold == plain
    assert warm == plain
    assert figures.hits >= 4  # hypnogram, comparison, ranking, epoch signals, timeline drawn once each
    assert sum(len(f) for _, f in plain) >= 4


def test_reopening_the_workspace_after_an_upload_empties_figures_and_query_vectors(sim_workspace: Path,
                                                                                    tmp_path: Path) -> None:
    shared = SharedCohort(sim_workspace)
    try:
        with shared.reading():
            session = ChatSession(shared.view())
            session.respond(f"Show the hypnogram of {shared.cohort.recordings()[0]}.")
            shared.cohort.embed_query("arousal")
        assert shared.cache.figures.stats().size == 1
        assert shared.cache.text_vectors.stats().size == 1
        shared.ingest([], tmp_path)  # what an upload does around its files: write, then reopen
        assert shared.cache.figures.stats().size == 0
        assert shared.cache.text_vectors.stats().size == 0
        assert isinstance(shared.cohort.model, CachedTextModel)
        assert not isinstance(shared.cohort.model.wrapped, CachedTextModel)  # wrapped once, not twice
    finally:
        shared.close()


class CountingExecutor:
    """Wraps an executor and records the functions submitted to it."""

    def __init__(self, inner):
        self.inner, self.submitted = inner, []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(fn.__name__)
        return self.inner.submit(fn, *args, **kwargs)


def test_the_page_reads_a_night_in_a_worker_process(sim_workspace: Path) -> None:
    shared = SharedCohort(sim_workspace)
    try:
        pool = shared.cache.workers
        assert {pool.submit(os.getpid).result() for _ in range(4)} - {os.getpid()}  # other processes
        shared.cache.workers = CountingExecutor(pool)
        with shared.reading():
            ChatSession(shared.view()).respond(f"Show the signals of epoch 2 of {shared.cohort.recordings()[0]}.")
        assert shared.cache.workers.submitted == ["read_night_epochs"]
        shared.cache.workers = pool
    finally:
        shared.close()
