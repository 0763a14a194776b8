"""How answers present what the model said and the numbers they give: caveats where the recording cannot show a claim, rounding."""

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
