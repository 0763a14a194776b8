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


# ------------------------------------------------------------- asking about it directly: the model_fit tool
def _ctx(cohort, tmp_path):
    from sleeplm.agent.context import ToolContext
    from sleeplm.agent.state import SessionState, ToolConfig

    return ToolContext(cohort, SessionState(), ToolConfig(), tmp_path)


def test_a_workspace_without_scores_says_it_cannot_tell(sim_workspace, tmp_path) -> None:
    from sleeplm.agent.night_tools import model_fit
    from sleeplm.index.queries import Cohort

    cohort = Cohort(sim_workspace)  # built by a model without a training-data reference
    try:
        out = model_fit(_ctx(cohort, tmp_path), recording=cohort.recordings()[0])
    finally:
        cohort.close()
    assert out["ood_score"] is None and "cannot tell" in out["summary"]


def test_a_night_beyond_the_training_data_is_called_an_extrapolation(sim_workspace, tmp_path) -> None:
    from sleeplm.agent.night_tools import model_fit
    from sleeplm.index.queries import Cohort

    cohort = Cohort(sim_workspace)
    cohort.night_ood = lambda recording_id, threshold: (2.3, 500, 780)  # as a real clinical file scores
    try:
        out = model_fit(_ctx(cohort, tmp_path), recording=cohort.recordings()[0])
    finally:
        cohort.close()
    assert "**2.30**" in out["summary"] and "outside" in out["summary"] and "extrapolations" in out["summary"]
    assert "500 of 780 epochs (64 %)" in out["summary"]
