"""A read-only cohort reads its small whole-workspace answers once and hands out copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from sleeplm.index.queries import Cohort


@pytest.fixture(scope="module")
def cohort(sim_workspace: Path):
    c = Cohort(sim_workspace)
    yield c
    c.close()


def test_nights_frame_is_read_once_per_cohort(cohort: Cohort) -> None:
    first = cohort.nights_frame()
    misses = cohort.memo.stats().misses
    again = cohort.nights_frame()
    assert cohort.memo.stats().misses == misses  # the second call is a lookup
    assert again.equals(first)


def test_changing_a_returned_frame_does_not_change_the_next_answer(cohort: Cohort) -> None:
    frame = cohort.nights_frame()
    frame.loc[:, "recording"] = "changed"
    assert "changed" not in set(cohort.nights_frame()["recording"])


def test_changing_a_returned_night_record_does_not_change_the_next_answer(cohort: Cohort) -> None:
    name = cohort.recording_names()[0]
    record = cohort.night_record(name)
    record.missing_channels.append("invented")
    assert "invented" not in cohort.night_record(name).missing_channels


def test_views_share_the_memo_and_a_reopened_cohort_starts_empty(cohort: Cohort, sim_workspace: Path) -> None:
    import copy

    view = copy.copy(cohort)  # how the page makes a session's view
    assert view.memo is cohort.memo
    fresh = Cohort(sim_workspace)
    try:
        assert fresh.memo is not cohort.memo and fresh.memo.stats().misses == 0
    finally:
        fresh.close()


def test_subject_ids_resolve_case_insensitively_through_the_memo(cohort: Cohort) -> None:
    subject = next(s for _, s in cohort.recording_subjects() if s)
    assert cohort.find_recording(subject.upper()) == cohort.find_recording(subject.lower())
    assert cohort.find_recording("no-such-night") is None


def test_epochs_can_be_selected_by_their_measured_heart_rate_and_spo2(cohort: Cohort) -> None:
    import numpy as np
    from sleeplm.index.queries import EpochFilter

    hr = cohort.con.execute("SELECT epoch_id, hr_mean_bpm, spo2_min_pct FROM features").fetchnumpy()
    cut = float(np.nanmedian(hr["hr_mean_bpm"]))
    q = cohort.embed_query("an epoch of N2 sleep")
    hits = cohort.search_vector(q, k=20, filters=EpochFilter(hr_min_bpm=cut))
    by_id = dict(zip(hr["epoch_id"].tolist(), hr["hr_mean_bpm"].tolist()))
    assert hits and all(by_id[h.epoch_id] > cut for h in hits)
    low = float(np.nanmin(hr["spo2_min_pct"]))
    only = cohort.search_vector(q, k=50, filters=EpochFilter(spo2_max_pct=low))
    assert {h.epoch_id for h in only} == set(hr["epoch_id"][hr["spo2_min_pct"] <= low].tolist())
    assert cohort.feature_extremes()["hr_max_bpm"] == float(np.nanmax(hr["hr_mean_bpm"]))
