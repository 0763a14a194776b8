"""Night metrics on a hand-built night with known answers; segment table; corpus writer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sleeplm.encoder.captions import CorpusNight, build_caption_corpus, night_summary, segment_summary
from sleeplm.encoder.signals.night import night_metrics, segment_table
from sleeplm.encoder.io.records import Annotations, Event


def _night():
    # 10 W, 20 N1, 40 N2, 20 N3, 10 W (WASO), 20 REM, 10 W  -> 130 epochs
    stages = ["W"] * 10 + ["N1"] * 20 + ["N2"] * 40 + ["N3"] * 20 + ["W"] * 10 + ["REM"] * 20 + ["W"] * 10
    t = lambda k: 30.0 * k + 5  # noqa: E731
    events = [Event("obstructive_apnea", t(35), 15), Event("central_apnea", t(40), 12),
              Event("hypopnea", t(45), 20), Event("hypopnea", t(105), 20),
              Event("hypopnea", t(2), 20),  # during wake: not counted
              Event("oxygen_desaturation", t(46), 30, spo2_nadir=88.0), Event("arousal", t(50), 8)]
    ann = Annotations("test", None, stages=stages, events=events)
    n = len(stages)
    pos = np.where(np.arange(n) < 60, 2.0, 1.0)  # supine for the first 60 epochs
    feats = pd.DataFrame({"onset_s": 30.0 * np.arange(n), "stage": stages, "position_code": pos,
                          "position": np.where(pos == 2, "supine", "left"),
                          "hr_mean_bpm": np.where(np.array(stages) == "REM", 70.0, 60.0),
                          "spo2_mean_pct": 96.0, "spo2_min_pct": np.where(np.arange(n) == 46, 88.0, 95.0),
                          "thx_rate_bpm": 14.0, "abd_rate_bpm": np.nan, "af_rate_bpm": np.nan})
    return ann, feats


def test_night_metrics_known_values() -> None:
    ann, feats = _night()
    m = night_metrics(ann, feats)
    assert m.tib_min == 65.0 and m.tst_min == 50.0
    assert m.sleep_efficiency_pct == pytest.approx(100 * 50 / 65)
    assert m.sleep_latency_min == 5.0 and m.rem_latency_min == 45.0 and m.waso_min == 10.0
    assert (m.n1_pct, m.n2_pct, m.n3_pct, m.rem_pct) == (20.0, 40.0, 20.0, 20.0)
    assert m.ahi_per_h == pytest.approx(4 / (50 / 60))  # wake hypopnea excluded
    assert m.oai_per_h == pytest.approx(1.2) and m.cai_per_h == pytest.approx(1.2)
    assert m.odi_per_h == pytest.approx(1.2) and m.arousal_index_per_h == pytest.approx(1.2)
    # supine sleep: epochs 10..59 = 50 epochs = 25 min; 3 events there
    assert m.supine_pct == 50.0 and m.left_pct == 50.0
    assert m.supine_ahi_per_h == pytest.approx(3 / (25 / 60))
    assert m.non_supine_ahi_per_h == pytest.approx(1 / (25 / 60))
    assert m.hr_rem_bpm == 70.0 and m.hr_n2_bpm == 60.0 and m.spo2_min_pct == 88.0
    s = night_summary(m)
    assert "Total sleep time was 50.0 minutes" in s and "apnea-hypopnea index was 4.8" in s


def test_night_metrics_without_features_or_sleep() -> None:
    ann, _ = _night()
    m = night_metrics(ann)
    assert np.isnan(m.supine_pct) and np.isnan(m.hr_n2_bpm) and m.tst_min == 50.0
    assert "Body position" not in night_summary(m) and "heart rate" not in night_summary(m)
    m = night_metrics(Annotations("t", None, stages=["W"] * 10))
    assert m.tst_min == 0 and np.isnan(m.ahi_per_h)
    assert night_summary(m).startswith("No sleep was scored")


def test_segments_and_corpus(tmp_path) -> None:
    ann, feats = _night()
    seg = segment_table(feats, ann.events)
    assert len(seg) == 13 and seg.n_resp_events.sum() == 5
    assert seg.loc[4, "n_resp_events"] == 2 and seg.loc[4, "n_desaturations"] == 1  # epochs 40-49
    assert "respiratory events" in segment_summary(seg.iloc[4])
    full = feats.reindex(columns=list(feats.columns))
    from sleeplm.encoder.signals.features import FEATURE_COLUMNS
    for c in FEATURE_COLUMNS:
        if c not in full:
            full[c] = "" if c.endswith(("trend", "changes")) else np.nan
    n = build_caption_corpus([CorpusNight("n1", full, ann.events)], tmp_path / "c.parquet", 2, seed=5)
    c = pd.read_parquet(tmp_path / "c.parquet")
    assert n == len(c) == 130 * 5 * 3
    assert set(c.variant) == {0, 1, 2}
    se = c[(c.track == "stage_event") & (c.variant == 0)].sort_values("epoch")
    assert "Hypopnea event" in se.caption.iloc[45]
