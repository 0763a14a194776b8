"""Somatic: per value accuracy of the shipped reader vs. the caption features' EMG code (emg_features) run on the
model's 64-Hz input: per epoch alone, and over the whole night's input (tone relative to the night's median)."""
import sys, collections, warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
from sleeplm.encoder.signals.emg import emg_features
from sleeplm.encoder.io.records import Signal
from sleeplm.encoder.vocab import SLEEPLM_CHANNELS
ctx = EvalContext.open(sys.argv[1])
e = ctx.epochs().sort_values(["recording_id", "epoch_index"])
ids = e["epoch_id"].to_numpy()
x = ctx.signals(ids)
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
read = read_facts(fm, x)
vals = fm.values(read[0], "somatic"); refs = ctx.captions(ids, "somatic")
emg = x[:, SLEEPLM_CHANNELS.index("EMG_CHIN")].astype(np.float64)
night = {k: np.full(len(ids), np.nan) for k in ["emg_median_freq_hz", "emg_burst_ratio", "emg_burst_mod_hz", "emg_tone_rel_pct"]}
alone = {k: np.full(len(ids), np.nan) for k in night}
for rid in np.unique(e["recording_id"]):
    idx = np.flatnonzero(e["recording_id"].to_numpy() == rid)
    f = emg_features(Signal("EMG", emg[idx].reshape(-1), 64.0, "uV"), np.arange(len(idx)) * 30.0)
    for k in night: night[k][idx] = f[k]
    for j in idx:
        g = emg_features(Signal("EMG", emg[j], 64.0, "uV"), np.array([0.0]))
        for k in alone: alone[k][j] = g[k][0]
col = {"median_freq_hz": "emg_median_freq_hz", "burst_ratio": "emg_burst_ratio", "burst_mod_hz": "emg_burst_mod_hz", "tone_rel_pct": "emg_tone_rel_pct"}
acc = collections.defaultdict(lambda: collections.defaultdict(list))
for i, ref in enumerate(refs):
    cap = parse_caption(ref, "somatic")
    for sec, s in cap.sections.items():
        for k, v in s.values.items():
            n = f"{sec}.{k}"
            acc[n]["reader"].append(value_close(float(vals[n][i]), v) if n in vals else False)
            if k in col:
                for name, src in (("night", night), ("alone", alone)):
                    m = src[col[k]][i]
                    acc[n][name].append(value_close(float(m), v) if np.isfinite(m) else False)
print(f"{len(ids)} epochs")
for n, d in acc.items():
    print(f"{n:25s} " + "  ".join(f"{k} {np.mean(v):.3f} (n={len(v)})" for k, v in d.items()))
