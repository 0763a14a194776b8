"""How answers present what the model said and the numbers they give: caveats where the recording cannot show a claim, rounding."""

from pathlib import Path

from sleeplm.agent.answers import caption_epochs

NOT_A_FINDING = "whether breathing events happened here is unknown"


def _result(absent: list[str], text: str, unscored: list[str] | None = None) -> dict:
    return {"recording": "excerpt1", "tracks": ["stage_event"], "withheld": {}, "absent_inputs": {"stage_event": absent},
            "unscored_kinds": unscored or [],
            "epochs": [{"epoch_index": 3, "clock_time": "23:01:30", "stage": "N2", "event_types": [],
                        "reference": {"stage_event": "N2 sleep."}, "model": {"stage_event": text}}]}


def test_a_caption_denying_breathing_events_without_any_breathing_channel_is_marked_unknown():
    eeg_only = ["ECG", "ABD", "THX", "AF", "EOG_L", "EOG_R", "EEG_C4", "EMG_CHIN", "POS"]
    answer = caption_epochs(_result(eeg_only, "N2 sleep; no sleep-disordered breathing events were detected."))
    assert NOT_A_FINDING in answer
    assert "present or absent, is not a finding" in answer


def test_a_caption_about_breathing_with_an_airflow_channel_gets_no_such_note():
    answer = caption_epochs(_result(["ECG", "ABD", "THX"], "N2 sleep; an obstructive apnea."))
    assert NOT_A_FINDING not in answer


def test_a_caption_that_does_not_speak_of_breathing_gets_no_such_note():
    answer = caption_epochs(_result(["ECG", "ABD", "THX", "AF"], "N2 sleep with spindles."))
    assert NOT_A_FINDING not in answer


def test_a_number_is_rounded_as_written_not_as_its_binary_neighbour():
    from sleeplm.agent.answers import num

    assert num(19.15) == "19.2"  # 19.15 is stored as 19.1499999...; a reader rounds what they see
    assert num(2.675, 2) == "2.68"
    assert num(float("nan")) == "nan" and num(None) == "n/a" and num(7) == "7"


GUESS = "what the caption says of them is the model's guess, with no scoring to check it against"


def test_a_caption_claiming_an_arousal_where_nobody_scored_arousals_is_called_the_model_s_guess():
    answer = caption_epochs(_result([], "N2 sleep. the arousal event is documented from 0.0 to 1.6 seconds.",
                                    unscored=["arousal", "limb_movement"]))
    assert "arousals were not scored in this recording" in answer and GUESS in answer
    assert "limb movements were not scored" not in answer  # the caption says nothing of them


def test_a_caption_claiming_an_arousal_in_a_night_with_scored_arousals_gets_no_such_note():
    answer = caption_epochs(_result([], "N2 sleep. the arousal event is documented from 0.0 to 3.6 seconds.",
                                    unscored=["limb_movement"]))
    assert GUESS not in answer


def test_a_desaturation_in_the_caption_of_a_recording_without_breathing_or_heart_signals_has_no_basis():
    eeg_only = ["ECG", "ABD", "THX", "AF", "EOG_L", "EOG_R", "EEG_C4", "EMG_CHIN", "POS"]
    answer = caption_epochs(_result(eeg_only, "N2. the oxygen desaturation event is documented, nadir of 91.6%."))
    assert "this recording has neither: it has no basis here" in answer
    with_breathing = caption_epochs(_result(["ECG"], "N2. the oxygen desaturation event is documented."))
    assert "inferred from breathing and heart signals, never measured" in with_breathing


def test_an_ahi_from_under_two_hours_of_sleep_gets_no_severity_class() -> None:
    from sleeplm.encoder.captions.night import ahi_severity

    assert ahi_severity(3.5, tst_min=17.0).startswith("not graded: only 17.0 min of sleep")
    assert ahi_severity(3.5, tst_min=400.0) == "normal" and ahi_severity(31.0) == "severe"


def test_a_time_asked_in_hours_is_also_given_in_hours() -> None:
    from sleeplm.agent.answer_format import hours_where_asked

    text = "**total sleep time (min): 8.5**\nsim-0001: **N3 time (min): 34.5**."
    out = hours_where_asked("What is the total sleep time of sim-0003 in hours?", text)
    assert "(min): 8.5** (0.14 h)" in out and "(min): 34.5** (0.57 h)" in out
    assert hours_where_asked("What is the total sleep time of sim-0003?", text) == text


def test_latencies_of_a_recording_shorter_than_a_night_say_they_are_the_recordings() -> None:
    from sleeplm.agent.answers import _recording_caveats

    excerpt = {"requested_metrics": {"sleep_latency_min": 5.5}, "key_metrics": {}, "duration_h": 0.5,
               "missing_channels": []}
    (line,) = _recording_caveats(excerpt)
    assert "0.50 h long, shorter than a night" in line and "sleep latency" in line
    assert _recording_caveats({**excerpt, "duration_h": 8.0}) == []


def test_breathing_events_without_an_airflow_channel_are_said_to_be_unchecked() -> None:
    from sleeplm.agent.answers import _recording_caveats

    night = {"requested_metrics": {"ahi_per_h": 58.4}, "key_metrics": {}, "duration_h": 8.0, "missing_channels": ["AF"]}
    (line,) = _recording_caveats(night)
    assert "no airflow channel" in line
    assert _recording_caveats({**night, "missing_channels": []}) == []


def test_nights_are_close_on_a_metric_only_within_half_a_cohort_sd_of_it() -> None:
    from sleeplm.agent.cohort_tools import _closest, _cohort_spread

    nights = [{"metrics": {"spo2_min_pct": v, "ahi_per_h": a}} for v, a in
              ((55.6, 50.9), (81.3, 23.9), (95.5, 7.1), (96.1, 0.0))]  # seed 5151's SpO2 nadirs and AHIs
    spread = _cohort_spread(nights)
    assert _closest(nights[0]["metrics"], nights[2]["metrics"], spread) == []  # 95.5 against 55.6 is not close
    assert _closest(nights[2]["metrics"], nights[3]["metrics"], spread) == ["spo2_min_pct", "ahi_per_h"]


def test_a_cohort_mean_of_a_per_hour_index_names_the_nights_with_little_sleep(sim_workspace: Path, sim_cohort_dir: Path,
                                                                               tmp_path: Path) -> None:
    import numpy as np

    from sleeplm.agent import ToolConfig, ask

    turn = ask(sim_workspace, "what is the mean arousal index of the cohort?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "query_cohort"
    for night in ("sim-0001", "sim-0002", "sim-0003"):
        stage = np.load(sim_cohort_dir / f"{night}.truth.npz")["stage"]
        tst_min = float(np.isin(stage, ["N1", "N2", "N3", "REM"]).sum()) * 0.5  # the night's own truth
        if tst_min > 0:  # a night without sleep has no index, so it is not in the mean
            assert f"{night} {tst_min:.1f} min" in turn.answer
    assert "have under 2 h of sleep" in turn.answer
