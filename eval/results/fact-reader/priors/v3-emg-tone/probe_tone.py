"""Relative tone from the model input's EMG as it is (already >=10-Hz high-passed): 100 * epoch RMS / the night's
median epoch RMS, against the reference captions."""
import sys, warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
from sleeplm.encoder.vocab import SLEEPLM_CHANNELS
ctx = EvalContext.open(sys.argv[1])
e = ctx.epochs().sort_values(["recording_id", "epoch_index"]); ids = e["epoch_id"].to_numpy()
x = ctx.signals(ids); emg = x[:, SLEEPLM_CHANNELS.index("EMG_CHIN")].astype(np.float64)
rms = np.sqrt((emg ** 2).mean(1)); ok = rms > 1e-6
tone = np.full(len(ids), np.nan)
for rid in np.unique(e["recording_id"]):
    idx = np.flatnonzero(e["recording_id"].to_numpy() == rid)
    base = np.median(rms[idx][ok[idx]]); tone[idx] = 100 * rms[idx] / base
refs = ctx.captions(ids, "somatic"); hit = []; err = []
for i, r in enumerate(refs):
    v = parse_caption(r, "somatic").sections.get("emg")
    if v and "tone_rel_pct" in v.values:
        hit.append(value_close(float(tone[i]), v.values["tone_rel_pct"])); err.append(tone[i] - v.values["tone_rel_pct"])
print(f"within tolerance {np.mean(hit):.3f} n={len(hit)}; median abs err {np.median(np.abs(err)):.2f} pct points")
