"""A position index (supine / non-supine AHI) from a few minutes of sleep in that position is flagged, as a
per-stage index from little of its stage is: 2 events in 11.5 min supine is "10.4/h", and one event is 5.2/h."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sleeplm.agent.answers import _metric_value
from sleeplm.agent.clinical import position_caution, position_minutes
from sleeplm.encoder.captions.night import night_summary
from sleeplm.encoder.io.annotations import event_list_scoring
from sleeplm.encoder.io.records import Annotations, Event
from sleeplm.encoder.signals.night import apnea_index_per_h, night_metrics

#: A night of 300 min of sleep, 3.8 % of it supine (11.4 min), the rest on the right side.
METRICS = {"tst_min": 300.0, "supine_pct": 3.8, "left_pct": 0.0, "right_pct": 96.2, "prone_pct": 0.0,
           "upright_pct": 0.0, "supine_ahi_per_h": 10.5, "non_supine_ahi_per_h": 0.8}


def test_the_minutes_a_position_index_rests_on_are_its_share_of_the_sleep_time() -> None:
    assert position_minutes(METRICS, "supine_ahi_per_h") == pytest.approx(0.038 * 300.0)
    assert position_minutes(METRICS, "non_supine_ahi_per_h") == pytest.approx(0.962 * 300.0)
    assert position_minutes(METRICS, "ahi_per_h") is None
    assert position_minutes({"tst_min": float("nan"), "supine_pct": 3.8}, "supine_ahi_per_h") is None


def test_a_supine_ahi_from_a_few_supine_minutes_is_flagged_and_a_well_sampled_one_is_not() -> None:
    assert "rests on only 11.4 min of sleep in that position" in position_caution("supine AHI (events/h)", 11.4)
    assert position_caution("non-supine AHI (events/h)", 288.6) is None


def test_the_answer_with_a_supine_ahi_carries_the_caution() -> None:
    text = _metric_value("supine_ahi_per_h", 10.5, METRICS)
    assert text.startswith("**supine AHI (events/h): 10.5** — supine AHI rests on only 11.4 min")
    assert "rests on" not in _metric_value("non_supine_ahi_per_h", 0.8, METRICS)


def test_the_night_summary_says_how_few_minutes_a_supine_ahi_comes_from() -> None:
    ann = Annotations("csv", None, ["N2"] * 600, events=[Event("obstructive_apnea", 60.0 * i, 15.0) for i in range(20)])
    ann.scoring = event_list_scoring(ann, "CSV")
    m = dataclasses.replace(night_metrics(ann), supine_pct=3.8, right_pct=96.2, left_pct=0.0, prone_pct=0.0,
                            upright_pct=0.0, supine_ahi_per_h=10.5, non_supine_ahi_per_h=0.8)
    text = night_summary(m, ann.scoring)
    assert "Supine AHI 10.5 per hour (from only 11.4 min)" in text
    assert "non-supine AHI 0.8 per hour." in text


def test_the_apnea_index_is_apneas_per_hour_of_sleep_and_unknown_without_a_count_or_sleep() -> None:
    ai = apnea_index_per_h(pd.Series([30, None, 4], dtype=object), pd.Series([120.0, 300.0, 0.0]))
    assert ai.iloc[0] == 15.0
    assert math.isnan(ai.iloc[1]) and math.isnan(ai.iloc[2])
    assert np.isfinite(ai).sum() == 1
