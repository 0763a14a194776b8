"""A search for something no annotation can check (a waveform shape, a band power) says that its order is
unverified and what the model's text search was measured to do on such descriptions, instead of presenting the
ranking as findings."""

from __future__ import annotations

import json
from pathlib import Path

from sleeplm.agent import ToolConfig, ask
from sleeplm.agent.answers import unchecked_search_text
from sleeplm.encoder.model.factory import resolve_checkpoint
from sleeplm.index.models import measured_text_search, sha256_file

REPO = Path(__file__).resolve().parents[2]


def test_a_search_naming_no_stage_or_event_says_its_order_is_unverified(sim_workspace: Path, tmp_path: Path) -> None:
    turn = ask(sim_workspace, "find epochs with flat inspiratory flow", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "search_epochs"
    assert "**Unverified order.** The description names no sleep stage and no scored event" in turn.answer
    # the workspace's model (parity-mini, random weights) has no measured record
    assert "No measurement of this model's text search on other descriptions is known." in turn.answer


def test_a_search_naming_a_scored_event_is_checked_against_the_annotations_instead(sim_workspace: Path,
                                                                                      tmp_path: Path) -> None:
    turn = ask(sim_workspace, "find epochs like hypopnea", config=ToolConfig(figure_dir=tmp_path))
    assert "Annotation check:" in turn.answer
    assert "Unverified order" not in turn.answer


def test_the_bundled_model_s_measured_record_is_for_the_bundled_weights_and_from_its_eval_result() -> None:
    weights, _ = resolve_checkpoint("sleeplm-tiny", None)
    record = measured_text_search(Path(weights), sha256_file(Path(weights)))
    assert record is not None, "encoder/assets/sleeplm-tiny.measured.json missing or made for other weights"
    result = json.loads((REPO / record["source"]).read_text())
    assert result["meta"]["model"]["sha256"] == record["model_sha256"]
    rows = {r["track"]: r for r in result["tables"]["cross-modal retrieval"]
            if r["direction"] == "text→signal" and not r["track"].endswith("(fact reader)")}  # the text tower's rows
    assert {t: v["r_at_10"] for t, v in record["text_to_signal"].items()} == {t: round(r["R@10"], 3) for t, r in rows.items()}


def test_a_measured_record_is_not_used_for_other_weights(tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"some weights")
    (tmp_path / "w.measured.json").write_text(json.dumps({"model_sha256": "0" * 64, "text_to_signal": {}}))
    assert measured_text_search(weights, sha256_file(weights)) is None


def test_a_track_search_at_chance_is_called_no_better_than_chance() -> None:
    text = unchecked_search_text({"measured": {"brain": {"r_at_10": 0.011, "chance_r_at_10": 0.01},
                                               "cardiac": {"r_at_10": 0.013, "chance_r_at_10": 0.01}},
                                  "measured_on": "held-out nights", "source": "results.json"})
    assert "measured no better than chance" in text and "R@10 0.011–0.013 (chance 0.010)" in text


def test_a_search_for_breathing_events_among_epochs_without_airflow_or_belts_says_the_order_tells_nothing(
        sim_workspace: Path, tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    from sleeplm.encoder.vocab import SLEEPLM_CHANNELS
    from sleeplm.index.queries import Cohort

    def eeg_only(self, epoch_ids):
        mask = np.zeros((len(epoch_ids), len(SLEEPLM_CHANNELS)), bool)
        mask[:, SLEEPLM_CHANNELS.index("EEG_C3")] = True
        return mask

    monkeypatch.setattr(Cohort, "channel_masks", eeg_only)
    turn = ask(sim_workspace, "find epochs like hypopnea", config=ToolConfig(figure_dir=tmp_path))
    assert "All of these epochs have no airflow or abdominal belt or thoracic belt" in turn.answer


def test_a_search_among_epochs_with_airflow_adds_no_such_note(sim_workspace: Path, tmp_path: Path) -> None:
    turn = ask(sim_workspace, "find epochs like hypopnea", config=ToolConfig(figure_dir=tmp_path))
    assert "says nothing about those events" not in turn.answer


def test_the_measured_record_keeps_the_text_towers_rows_not_the_fact_readers() -> None:
    from sleeplm.eval.measured import measured_record

    row = {"direction": "text→signal", "R@10": 0.011, "chance R@10": 0.01, "epochs": 10, "distinct captions": 10}
    result = {"meta": {"model": {"sha256": "s"}}, "tables": {"cross-modal retrieval": [
        {**row, "track": "brain"}, {**row, "track": "brain (fact reader)", "R@10": 0.99}]}}
    assert list(measured_record(result, "s")["text_to_signal"]) == ["brain"]


def test_a_filtered_search_says_how_many_epochs_its_filters_select(sim_workspace: Path, sim_cohort_dir: Path,
                                                                   tmp_path: Path) -> None:
    import re

    import numpy as np

    turn = ask(sim_workspace, "find epochs like an arousal in N2 in sim-0002", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "search_epochs"
    n_n2 = int((np.load(sim_cohort_dir / "sim-0002.truth.npz")["stage"] == "N2").sum())  # the night's own truth
    shown = len([line for line in turn.answer.splitlines() if re.match(r"\d+\. ", line)])
    assert n_n2 > shown and f"{n_n2} epochs meet the filters; the {shown} shown" in turn.answer


def test_where_a_measured_value_crosses_a_line_lists_the_epochs_in_time_order(sim_workspace: Path,
                                                                              tmp_path: Path) -> None:
    import re

    turn = ask(sim_workspace, "when is the heart rate above 40 in sim-0002?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "search_epochs" and "in time order" in turn.answer
    epochs = [int(m) for m in re.findall(r"^\d+\. sim-0002 epoch (\d+)", turn.answer, flags=re.M)]
    assert len(epochs) >= 2 and epochs == sorted(epochs) and "cosine" not in turn.answer

