"""Model-derived answers carry the model's out-of-distribution score of the recordings they rest on."""

from __future__ import annotations

from sleeplm.agent.answers import compose, ood_line


def test_a_score_above_the_threshold_is_a_caution_naming_the_recording() -> None:
    line = ood_line({"scores": {"excerpt1": 2.45, "sim-0001": 0.56}, "threshold": 1.0})
    assert "Caution" in line and "excerpt1" in line and "sim-0001" not in line.split("(")[0]


def test_scores_within_the_training_data_are_stated_as_such() -> None:
    assert "within the training data" in ood_line({"scores": {"sim-0001": 0.56}, "threshold": 1.0})


def test_no_score_adds_nothing() -> None:
    assert ood_line(None) == "" and ood_line({"scores": {}, "threshold": 1.0}) == ""


def test_compose_appends_the_line_to_the_tool_answer() -> None:
    text = compose("unknown_tool", {"summary": "done", "ood": {"scores": {"n1": 3.0}, "threshold": 1.0}})
    assert text.startswith("done") and "Caution" in text
