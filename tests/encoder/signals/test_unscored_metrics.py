"""A kind of annotation nobody scored has no metrics: NaN / None with the reason, never 0."""

from __future__ import annotations

import math

from sleeplm.encoder.captions.night import night_summary
from sleeplm.encoder.io.annotations import event_list_scoring
from sleeplm.encoder.io.records import Annotations, Event
from sleeplm.encoder.signals.night import night_metrics


def _hypnogram_only() -> Annotations:
    ann = Annotations("hypnogram-txt", None, ["W"] * 4 + ["N2"] * 120 + ["REM"] * 20)
    ann.scoring = event_list_scoring(ann, "hypnogram")
    return ann


def test_a_night_without_respiratory_scoring_has_no_ahi() -> None:
    m = night_metrics(_hypnogram_only())
    assert math.isnan(m.ahi_per_h) and m.n_apneas is None and m.n_hypopneas is None
    assert math.isnan(m.odi_per_h) and math.isnan(m.arousal_index_per_h)
    assert m.tst_min == 70.0


def test_its_summary_says_not_scored_instead_of_an_index_of_zero() -> None:
    ann = _hypnogram_only()
    text = night_summary(night_metrics(ann), ann.scoring)
    assert "Respiratory events were not scored" in text and "unknown" in text
    assert "0.0 events per hour" not in text


def test_a_scored_kind_with_events_keeps_its_index() -> None:
    ann = Annotations("csv", None, ["N2"] * 120, events=[Event("obstructive_apnea", 60.0 * i, 15.0) for i in range(30)])
    ann.scoring = event_list_scoring(ann, "CSV")
    m = night_metrics(ann)
    assert m.ahi_per_h == 30.0 and m.n_apneas == 30
    assert math.isnan(m.arousal_index_per_h)


def test_the_summary_names_the_obstructive_index_for_what_it_counts_obstructive_and_mixed_apneas() -> None:
    events = [Event("obstructive_apnea", 60.0 * i, 15.0) for i in range(30)] + [Event("mixed_apnea", 3000.0, 15.0)]
    ann = Annotations("csv", None, ["N2"] * 300, events=events)  # 2.5 h of N2: enough sleep to grade
    ann.scoring = event_list_scoring(ann, "CSV")
    text = night_summary(night_metrics(ann), ann.scoring)
    assert "obstructive + mixed apnea index 12.4" in text and "(mild" in text  # (30 + 1) / 2.5 h


def test_the_summary_gives_no_severity_class_from_under_two_hours_of_sleep() -> None:
    ann = Annotations("csv", None, ["N2"] * 34, events=[Event("hypopnea", 100.0, 15.0)])  # 17 min of sleep
    ann.scoring = event_list_scoring(ann, "CSV")
    text = night_summary(night_metrics(ann), ann.scoring)
    assert "3.5 events per hour (not graded: only 17.0 min of sleep" in text and "normal" not in text
