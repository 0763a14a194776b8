"""Grounded captions: the decoder's wording with the fact reader's numbers (encoder/captions/grounded.py)."""

import numpy as np
from sleeplm.encoder.captions.grounded import grounded_caption, grounded_captions
from sleeplm.encoder.captions.parse import parse_caption

CARDIAC = ("heart rate: minimum value of 71.00, maximum value of 71.55, mean of 71.55, an increasing phase from "
           "10.5 to 12.5 seconds. blood oxygen saturation: minimum value of 96.78, and mean of 96.72.")
READ_CARDIAC = {"hr.min_bpm": 60.1, "hr.max_bpm": 70.2, "hr.mean_bpm": 65.0, "spo2.min_pct": 95.0,
                "spo2.mean_pct": 96.0, "ecg.beat_rate_bpm": 64.9, "ecg.rmssd_ms": 30.0}


def test_a_grounded_caption_states_the_read_values_in_the_decoders_sections():
    f = parse_caption(grounded_caption(CARDIAC, "cardiac", READ_CARDIAC, None, {"ECG"}), "cardiac")
    assert f.sections["hr"].values == {"min_bpm": 60.1, "max_bpm": 70.2, "mean_bpm": 65.0}
    assert f.sections["spo2"].values == {"min_pct": 95.0, "mean_pct": 96.0}
    assert "ecg" not in f.sections  # the decoder wrote no ECG section and was not cut off


def test_a_grounded_caption_keeps_the_decoders_trend_phases():
    f = parse_caption(grounded_caption(CARDIAC, "cardiac", READ_CARDIAC, None, {"ECG"}), "cardiac")
    assert [(t.direction, t.start_s, t.end_s) for t in f.sections["hr"].trends] == [("increasing", 10.5, 12.5)]


def test_a_caption_cut_off_at_the_length_limit_gains_the_sections_of_the_channels_the_epoch_has():
    cut = ("left eog movement: slow eye movement relative power of 68.88%, rem saccadic relative power of 28.88%, "
           "and rapid eye movement count of 10. central eeg activity (c3-a2): delta relative power of")
    keys = ("sem_rel_pct", "rem_rel_pct", "rem_count", "delta_rel_pct", "theta_rel_pct", "alpha_rel_pct",
            "sigma_rel_pct", "beta_rel_pct", "spindle_count", "slow_wave_count")
    read = {f"{s}.{k}": 20.0 for s in ("eog_l", "eog_r", "eeg_c3", "eeg_c4") for k in keys}
    f = parse_caption(grounded_caption(cut, "brain", read, None, {"EOG_L", "EEG_C3", "EEG_C4"}), "brain")
    assert set(f.sections) == {"eog_l", "eeg_c3", "eeg_c4"}  # EOG_R is not recorded: no section for it
    assert f.sections["eeg_c4"].values["delta_rel_pct"] == 20.0


def test_a_read_minimum_above_the_read_mean_is_moved_to_the_mean():
    read = dict(READ_CARDIAC, **{"hr.min_bpm": 68.0, "hr.mean_bpm": 66.0, "hr.max_bpm": 64.0})
    f = parse_caption(grounded_caption(CARDIAC, "cardiac", read, None, {"ECG"}), "cardiac")
    assert f.sections["hr"].values == {"min_bpm": 66.0, "max_bpm": 66.0, "mean_bpm": 66.0}


def test_the_body_position_is_the_readers_and_the_decoders_changes_stay_only_where_it_named_the_same():
    text = ("chin emg activity: median frequency of 21.00 hz. the patient is mostly in the left position for this "
            "period, moving from left to supine at 12.0 seconds.")
    read = {"emg.median_freq_hz": 22.0, "emg.burst_ratio": 1.3, "emg.burst_mod_hz": 2.4, "emg.tone_rel_pct": 150.0}
    f = parse_caption(grounded_caption(text, "somatic", read, "supine", {"EMG_CHIN", "POS"}), "somatic")
    assert f.position.position == "supine" and f.position.changes == []
    kept = parse_caption(grounded_caption(text, "somatic", read, "left", {"EMG_CHIN", "POS"}), "somatic")
    assert kept.position.position == "left" and [c.to_position for c in kept.position.changes] == ["supine"]


def test_a_stage_caption_and_a_caption_stating_no_values_pass_unchanged():
    stage = "sleep stage evaluation reveals n2 for this epoch."
    assert grounded_caption(stage, "stage_event", {}, None, set()) == stage
    odd = "no cardiac signal."
    assert grounded_caption(odd, "cardiac", READ_CARDIAC, None, {"ECG"}) == odd


def test_grounded_captions_reads_each_epochs_own_values_and_channels():
    values = {k: np.array([v, v + 10.0]) for k, v in READ_CARDIAC.items()}
    masks = np.zeros((2, 10), bool)
    masks[:, 0] = True  # ECG (SLEEPLM_CHANNELS order)
    out = grounded_captions([CARDIAC, CARDIAC], "cardiac", values, None, masks)
    assert [parse_caption(t, "cardiac").sections["hr"].values["mean_bpm"] for t in out] == [65.0, 75.0]


def test_a_section_of_a_channel_the_recording_lacks_is_dropped_whatever_the_decoder_wrote():
    # an EEG-only recording: the decoder still wrote heart-rate and SpO2 values; none is a reading
    out = grounded_caption(CARDIAC, "cardiac", READ_CARDIAC, None, {"EEG_C3"})
    assert parse_caption(out, "cardiac").sections == {}
    assert "71.00" not in out and "60.10" not in out


def test_without_a_position_channel_no_body_position_is_stated():
    text = "chin emg activity: median frequency of 21.00 hz. the patient maintains the left position for this period."
    read = {"emg.median_freq_hz": 22.0, "emg.burst_ratio": 1.3, "emg.burst_mod_hz": 2.4, "emg.tone_rel_pct": 150.0}
    f = parse_caption(grounded_caption(text, "somatic", read, "left", {"EMG_CHIN"}), "somatic")
    assert f.position is None and f.sections["emg"].values["median_freq_hz"] == 22.0


def _stage_caption(events):
    from sleeplm.encoder.captions.facts import CaptionFacts, EventFact
    from sleeplm.encoder.captions.render import render_facts

    return render_facts(CaptionFacts("stage_event", stage="N2", events=[EventFact(*e) for e in events])).lower()


READABLE = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea", "arousal")


def test_a_grounded_stage_caption_keeps_the_stage_and_takes_the_read_breathing_events():
    from sleeplm.encoder.captions.grounded import grounded_stage_event

    decoder = _stage_caption([("hypopnea", 2.0, 20.0), ("oxygen_desaturation", 15.0, 30.0, 88.0)])
    out = parse_caption(grounded_stage_event(decoder, [("obstructive_apnea", 0.0, 14.0)], READABLE, {"AF"}),
                        "stage_event")
    assert out.stage == "N2"
    assert [(e.type, e.start_s, e.end_s) for e in out.events] == [("obstructive_apnea", 0.0, 14.0),
                                                                   ("oxygen_desaturation", 15.0, 30.0)]


def test_a_read_event_whose_signals_the_epoch_lacks_is_not_stated():
    from sleeplm.encoder.captions.grounded import grounded_stage_event

    decoder = _stage_caption([("hypopnea", 2.0, 20.0)])
    out = parse_caption(grounded_stage_event(decoder, [("hypopnea", 2.0, 20.0), ("arousal", 5.0, 9.0)], READABLE,
                                             {"EEG_C3"}), "stage_event")
    assert [e.type for e in out.events] == ["arousal"]  # no airflow or belts: no breathing event either way


def test_a_grounded_title_names_the_lead_the_reference_caption_names():
    from sleeplm.encoder.captions.grounded import leads_in_caption

    ref = "Central EEG Activity (CZ-A1 in place of C3-A2): delta relative power of 85.69%."
    generated = "central eeg activity (c3-a2): delta relative power of 78.05%, theta relative power of 10.06%."
    out = grounded_caption(generated, "brain", {"eeg_c3.delta_rel_pct": 75.3}, None, {"EEG_C3"},
                           leads_in_caption(ref))
    assert "(CZ-A1 in place of C3-A2)" in out
    assert parse_caption(out, "brain").sections["eeg_c3"].values == {"delta_rel_pct": 75.3}


def test_without_airflow_or_belts_a_stage_caption_does_not_say_no_breathing_events_were_found():
    from sleeplm.encoder.captions.grounded import grounded_stage_event

    out = grounded_stage_event(_stage_caption([]), [], READABLE, {"EEG_C3"})
    assert "No sleep-disordered breathing events were detected" not in out and "cannot be read" in out
