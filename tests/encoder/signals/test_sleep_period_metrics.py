"""Awakenings, stage shifts and their indices, REM / NREM AHI, T90 and CT90 on hand-built nights counted by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sleeplm.encoder.captions import night_summary
from sleeplm.encoder.io.records import Annotations, Event, Signal
from sleeplm.encoder.signals.night import (
    awakening_bouts,
    night_metrics,
    sleep_period_counts,
)
from sleeplm.encoder.signals.spo2 import spo2_features

# 10 W, 20 N1, 40 N2, 20 N3, 10 W, 20 REM, 10 W: sleep period = epochs 10..119
STAGES = ["W"] * 10 + ["N1"] * 20 + ["N2"] * 40 + ["N3"] * 20 + ["W"] * 10 + ["REM"] * 20 + ["W"] * 10


def _t(k: int) -> float:
    return 30.0 * k + 5.0


def _features(below90_s: np.ndarray) -> pd.DataFrame:
    n = len(STAGES)
    return pd.DataFrame({"onset_s": 30.0 * np.arange(n), "stage": STAGES, "position_code": 2.0,
                         "position": "supine", "hr_mean_bpm": 60.0, "spo2_mean_pct": 95.0,
                         "spo2_min_pct": 93.0, "spo2_below90_s": below90_s})


def test_awakenings_are_wake_bouts_inside_the_sleep_period() -> None:
    # the 10 W before sleep onset and the final 10 W are outside the sleep period: one awakening
    assert sleep_period_counts(np.array(STAGES, dtype=object))[0] == 1


def test_stage_shifts_count_every_change_inside_the_sleep_period() -> None:
    # N1->N2, N2->N3, N3->W, W->REM
    assert sleep_period_counts(np.array(STAGES, dtype=object))[1] == 4


def test_unscored_epochs_are_skipped_not_counted_as_changes() -> None:
    assert sleep_period_counts(np.array(["N2", "N2", "UNKNOWN", "N2"], dtype=object)) == (0, 0)
    assert sleep_period_counts(np.array(["N2", "W", "UNKNOWN", "W", "N2"], dtype=object)) == (1, 2)


def test_a_night_without_sleep_has_no_awakening_count() -> None:
    m = night_metrics(Annotations("t", None, stages=["W"] * 10))
    assert m.n_awakenings is None and m.n_stage_shifts is None


def test_awakenings_of_at_least_a_minute_need_two_wake_epochs() -> None:
    # sleep period N2 W N2 W W N2 W W W N2 (+ a final W outside): bouts of 1, 2 and 3 epochs
    stages = ["N2", "W", "N2", "W", "W", "N2", "W", "W", "W", "N2", "W"]
    assert awakening_bouts(np.array(stages, dtype=object)).tolist() == [1, 2, 3]
    m = night_metrics(Annotations("t", None, stages=stages))
    assert (m.n_awakenings, m.n_awakenings_1min) == (3, 2)


def test_awakening_and_stage_shift_indices_are_per_hour_of_sleep() -> None:
    m = night_metrics(Annotations("t", None, stages=STAGES))  # TST 100 epochs = 50 min; 1 awakening, 4 shifts
    assert m.awakening_index_per_h == pytest.approx(1 / (50 / 60))
    assert m.stage_shift_index_per_h == pytest.approx(4 / (50 / 60))


def test_a_night_without_sleep_has_no_awakening_index() -> None:
    m = night_metrics(Annotations("t", None, stages=["W"] * 10))
    assert m.n_awakenings_1min is None and math.isnan(m.awakening_index_per_h)
    assert math.isnan(m.stage_shift_index_per_h)


def test_rem_and_nrem_ahi_divide_by_their_own_sleep_time() -> None:
    events = [Event("obstructive_apnea", _t(35), 15), Event("central_apnea", _t(40), 12),
              Event("hypopnea", _t(45), 20), Event("hypopnea", _t(105), 20),
              Event("hypopnea", _t(2), 20)]  # in wake: not counted
    m = night_metrics(Annotations("t", None, stages=STAGES, events=events))
    assert m.ahi_rem_per_h == pytest.approx(1 / (10 / 60))  # 1 event in 20 REM epochs (10 min)
    assert m.ahi_nrem_per_h == pytest.approx(3 / (40 / 60))  # 3 events in 80 NREM epochs (40 min)


def test_rem_ahi_is_undefined_without_rem() -> None:
    m = night_metrics(Annotations("t", None, stages=["W"] * 4 + ["N2"] * 20,
                                  events=[Event("hypopnea", _t(10), 15)]))
    assert math.isnan(m.ahi_rem_per_h) and m.ahi_nrem_per_h == pytest.approx(6.0)


def test_t90_sums_the_sleep_epochs_time_below_90() -> None:
    below = np.zeros(len(STAGES))
    below[[46, 47, 2]] = (30.0, 15.0, 60.0)  # epoch 2 is wake before sleep onset: not counted
    m = night_metrics(Annotations("t", None, stages=STAGES), _features(below))
    assert m.t90_min == pytest.approx(0.75)
    assert "0.8 minutes of sleep were below 90%" in night_summary(m)


def test_ct90_is_t90_as_a_share_of_the_sleep_time_with_a_reading() -> None:
    below = np.zeros(len(STAGES))
    below[[46, 47]] = (30.0, 15.0)  # 45 s below 90
    below[50:60] = np.nan  # 10 of the 100 sleep epochs without a reading: 90 epochs = 45 min measured
    m = night_metrics(Annotations("t", None, stages=STAGES), _features(below))
    assert m.ct90_pct == pytest.approx(100 * 45 / (90 * 30))


def test_t90_is_unknown_when_most_sleep_epochs_have_no_spo2() -> None:
    below = np.full(len(STAGES), np.nan)
    below[10:40] = 0.0  # 30 of 90 sleep epochs have a reading
    m = night_metrics(Annotations("t", None, stages=STAGES), _features(below))
    assert math.isnan(m.t90_min) and math.isnan(m.ct90_pct)


def test_epoch_time_below_90_is_the_share_of_valid_samples() -> None:
    x = np.full(60, 95.0)
    x[5:15] = 88.0  # 10 s below 90 in the first epoch
    x[40:46] = 0.0  # probe off in the second: 6 invalid samples, none below 90 counted
    x[46:52] = 85.0  # 6 of the 24 valid samples below 90
    out = spo2_features(Signal("SpO2", x, 1.0), np.array([0.0, 30.0]))
    assert out["spo2_below90_s"] == pytest.approx([10.0, 30.0 * 6 / 24])


def test_the_night_summary_names_awakenings_and_stage_shifts() -> None:
    m = night_metrics(Annotations("t", None, stages=STAGES))
    assert "1 awakening and 4 stage shifts" in night_summary(m)


def test_rem_related_by_ratio_is_not_called_isolated_on_too_little_rem() -> None:
    from sleeplm.encoder.captions.night import rem_related_reading

    text = rem_related_reading(16.5, 43.6, 14.1, rem_min=11.0)
    assert text.startswith("REM-related by the usual rule") and "not by the stricter definition" in text
    assert "also by the stricter" not in text
    assert "also by the stricter" in rem_related_reading(16.5, 43.6, 14.1, rem_min=45.0)


def test_rem_related_is_not_assessed_without_rem_or_apnea() -> None:
    from sleeplm.encoder.captions.night import rem_related_reading

    assert "cannot be assessed" in rem_related_reading(10.0, math.nan, 10.0, rem_min=0.0)
    assert rem_related_reading(3.0, 8.0, 2.0, rem_min=60.0).startswith("Not REM-related")


def test_an_ahi_whose_events_lie_in_neither_rem_nor_nrem_is_not_called_rem_related():
    from sleeplm.encoder.captions.night import rem_related

    v = rem_related(8.0, 0.0, 0.0, 45.0)  # events counted in the AHI, none in a REM or NREM epoch
    assert (v.usual, v.strict) == (None, None) and "both 0" in v.why
    from sleeplm.encoder.captions.night import rem_related_reading

    assert "cannot be assessed" in rem_related_reading(8.0, 0.0, 0.0, 45.0)


def test_the_rem_to_nrem_ratio_is_kept_when_the_ahi_is_under_5():
    from sleeplm.encoder.captions.night import rem_related

    v = rem_related(3.4, 13.3, 2.5, 60.0)
    assert v.usual is False and v.ratio == pytest.approx(13.3 / 2.5)
