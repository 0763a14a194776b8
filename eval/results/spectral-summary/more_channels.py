"""The more-channels check of tests/eval/test_more_channels.py (randomized simulated nights, seed 9090) for any weights.

    python eval/results/spectral-summary/more_channels.py MODEL [MODEL ...]   # output: more_channels.txt
"""
import sys
from pathlib import Path
import numpy as np
from sleeplm.encoder.io.channels import map_channels
from sleeplm.encoder.io.records import Recording
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.sim import SITES, draw_subject, randomized_file_signals, simulate_night
from sleeplm.encoder.vocab import SCORED_STAGES
from sleeplm.eval.metrics import classification_scores
from sleeplm.eval.staging import load_prompts, predict_stages
from sleeplm.index.models import resolve_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wake-artifacts"))
from nox_check import _eeg_only  # noqa: E402  (the same cut as tests/eval/test_more_channels.py)

for m in sys.argv[1:]:
    model, prompts = resolve_model(m).load(), load_prompts()
    truth, full, eeg = [], [], []
    for i in range(3):
        rng = np.random.default_rng([9090, i])
        night = simulate_night(draw_subject(i, rng, site=SITES[i % len(SITES)]), rng, 1.5)
        rec = Recording(Path(f"{night.stem}.edf"), night.start_time, night.duration_s, randomized_file_signals(night, rng))
        ep = make_epochs(map_channels(rec), night.annotations(), brain_scale=model.brain_scale)
        keep = np.isin(np.asarray(ep.stages, object), SCORED_STAGES)
        x = ep.x[keep].astype(np.float32)
        truth += list(np.asarray(ep.stages, object)[keep])
        full += list(predict_stages(model, model.encode_signal(x), prompts))
        eeg += list(predict_stages(model, model.encode_signal(_eeg_only(x)), prompts))
    t = np.asarray(truth, object)
    kf = classification_scores(t, np.asarray(full, object), list(SCORED_STAGES))["kappa"]
    ke = classification_scores(t, np.asarray(eeg, object), list(SCORED_STAGES))["kappa"]
    print(f"{Path(m).name}: randomized simulated nights (seed 9090), {len(t)} epochs: kappa every channel {kf:.3f}, central EEG alone {ke:.3f}; holds (>= eeg - 0.05): {kf >= ke - 0.05}")
