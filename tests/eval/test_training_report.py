"""The held-out report of a training run (sleeplm.eval.training_report) uses the harness's prompts and metrics.

An oracle model makes the expected numbers knowable from the split's own files: it embeds an epoch as
the one-hot vector of its stage (``epochs.parquet``), a staging prompt as the one-hot vector of the stage
whose list in the prompts file holds it, and "generates" each epoch's canonical caption
(``captions.parquet``).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleeplm.eval.staging import PROMPTS
from sleeplm.eval.training_report import training_report, write_training_report
from testdata import MINI_CHECKPOINT

STAGES = ("W", "N1", "N2", "N3", "REM")


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    from sleeplm.encoder.train.data import SplitSpec, build_split

    out = tmp_path_factory.mktemp("heldout") / "val"
    build_split(out, SplitSpec(n_nights=1, seed=3, duration_h=1.0, n_paraphrases=0), progress=False)
    return out


class OracleModel:
    """Knows every epoch's stage and captions (read from the split files) and the prompts' stages."""

    embed_dim = 8

    def __init__(self, split: Path, prompts_path: Path) -> None:
        from sleeplm.encoder.train.data import EpochCaptions

        data = EpochCaptions(split)
        x = data.signals(np.arange(len(data)))
        self._index = {x[i].tobytes(): i for i in range(len(data))}
        self._stage = pd.read_parquet(split / "epochs.parquet")["stage"].to_numpy()
        caps = pd.read_parquet(split / "captions.parquet")
        self._caption = {(int(r.idx), r.track): r.caption for r in caps[caps["variant"] == 0].itertuples()}
        prompts = json.loads(Path(prompts_path).read_text())
        self._prompt_stage = {t: s for s, texts in prompts.items() if not s.startswith("_") for t in texts}

    def _one_hot(self, stage: str) -> np.ndarray:
        v = np.zeros(self.embed_dim, np.float32)
        v[STAGES.index(stage)] = 1.0
        return v

    def encode_signal(self, x: np.ndarray) -> np.ndarray:
        return np.stack([self._one_hot(self._stage[self._index[e.tobytes()]]) for e in x])

    def encode_text(self, texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            if t in self._prompt_stage:
                out.append(self._one_hot(self._prompt_stage[t]))
            else:  # a caption: a fixed direction of its own, away from the stage axes
                v = np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.embed_dim).astype(np.float32)
                out.append(v / np.linalg.norm(v))
        return np.stack(out)

    def generate(self, x: np.ndarray, track: str, max_len: int = 256, **_: object) -> list[str]:
        return [self._caption[(self._index[e.tobytes()], track)] for e in x]


def test_zero_shot_staging_is_scored_against_the_split_stages_with_the_harness_prompts(split: Path) -> None:
    stages = pd.read_parquet(split / "epochs.parquet")["stage"]
    res = training_report(OracleModel(split, PROMPTS), split, n_pool=len(stages), n_caption=0)
    z = res["zero_shot_staging"]
    assert z["prompts"] == str(PROMPTS)
    assert z["n"] == int(stages.isin(STAGES).sum())
    assert z["accuracy"] == 1.0 and z["kappa"] == pytest.approx(1.0)
    assert z["baselines"]["majority class"]["accuracy"] == pytest.approx(stages.value_counts(normalize=True).max())


def test_staging_prompts_come_from_the_prompts_file(split: Path, tmp_path: Path) -> None:
    prompts = json.loads(PROMPTS.read_text())
    prompts["W"], prompts["N2"] = prompts["N2"], prompts["W"]  # the W prompts now stand for N2 and back
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(prompts))
    stages = pd.read_parquet(split / "epochs.parquet")["stage"]
    res = training_report(OracleModel(split, PROMPTS), split, n_pool=len(stages), n_caption=0, prompts_path=swapped)
    share = stages.value_counts(normalize=True)
    assert res["zero_shot_staging"]["accuracy"] == pytest.approx(1.0 - share.get("W", 0) - share.get("N2", 0))


def test_captions_equal_to_the_references_score_every_fact_right(split: Path) -> None:
    res = training_report(OracleModel(split, PROMPTS), split, n_pool=30, n_caption=6)
    rows = {r["track"]: r for r in res["captioning"]["rows"]}
    assert set(rows) == {"brain", "cardiac", "respiratory", "somatic", "stage_event"}
    assert all(r["n"] == 6 and r["fact_accuracy"] == 1.0 and r["BLEU-4"] == pytest.approx(100.0) for r in rows.values())
    assert res["captioning"]["fact_accuracy"] == 1.0


def test_retrieval_rows_follow_the_harness_definition(split: Path) -> None:
    res = training_report(OracleModel(split, PROMPTS), split, n_pool=30, n_caption=0)
    rows = res["retrieval"]["rows"]
    assert {(r["track"], r["direction"]) for r in rows} == {
        (t, d) for t in ("brain", "cardiac", "respiratory", "somatic", "stage_event") for d in ("signal→text", "text→signal")}
    assert all(r["epochs"] == 30 and 1 <= r["distinct captions"] <= 30 and 0.0 <= r["R@10"] <= 1.0 for r in rows)
    assert res["retrieval"]["mean_recall@10"] == pytest.approx(np.mean([r["R@10"] for r in rows]))


def test_written_report_has_json_and_markdown_sections(split: Path, tmp_path: Path) -> None:
    md = write_training_report(OracleModel(split, PROMPTS), split, tmp_path, n_pool=12, n_caption=2)
    text = md.read_text()
    for heading in ("## Zero-shot staging", "## Retrieval", "## Captioning"):
        assert heading in text
    assert "| model (prompts) | 1.000 |" in text and "majority class" in text
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["held_out"]["n_pool"] == 12 and saved["zero_shot_staging"]["accuracy"] == 1.0


@pytest.mark.slow
def test_report_of_a_checkpoint_file(split: Path, tmp_path: Path) -> None:
    md = write_training_report(MINI_CHECKPOINT, split, tmp_path, n_pool=12, n_caption=1, max_len=8)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert md.is_file() and saved["model"] == str(MINI_CHECKPOINT)
    assert 0.0 <= saved["zero_shot_staging"]["accuracy"] <= 1.0
