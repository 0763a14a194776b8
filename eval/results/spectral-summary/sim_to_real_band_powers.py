"""Do the simulator's one-lead band powers carry over to real EEG? A logistic regression on 7 band powers fitted on the
4 simulated one-lead nights of ../wake-artifacts/sim_wake_kinds.py (5 stages, wake artifacts on), applied unchanged
to the real DREAMS epochs of a workspace: kappa, and what it calls each kind of real wake.

    python eval/results/spectral-summary/sim_to_real_band_powers.py WS_DREAMS   # output: sim_to_real_band_powers.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wake-artifacts"))
import numpy as np
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sim_wake_kinds import one_lead_wake_epochs
from sleeplm.encoder.vocab import CHANNEL_INDEX
from sleeplm.eval.context import EvalContext

def bands(eeg):
    f, p = welch(eeg, fs=64, nperseg=256, axis=-1); tot = p[:, (f >= .5) & (f <= 30)].sum(1)
    return np.column_stack([np.log(p[:, (f >= lo) & (f < hi)].sum(1) / tot) for lo, hi in ((.5, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 30))] + [np.log(eeg.std(1))])

x, st, kinds = one_lead_wake_epochs()
fs = bands(x[:, CHANNEL_INDEX["EEG_C3"]])
five = np.isin(st, ["W", "N1", "N2", "N3", "REM"])
clf = LogisticRegression(max_iter=5000, class_weight="balanced").fit(fs[five], st[five])
ctx = EvalContext.open(Path(sys.argv[1]), model="sleeplm-tiny")
ep = ctx.scored_epochs(); ids = ep["epoch_id"].to_numpy()
xr = ctx.signals(ids, brain_scale="mad"); eeg = xr[:, CHANNEL_INDEX["EEG_C3"]]
if np.abs(eeg).sum() == 0: eeg = xr[:, CHANNEL_INDEX["EEG_C4"]]
fr = bands(eeg); truth = ep["stage"].to_numpy(object); rec = ep["recording_id"].to_numpy()
f, p = welch(eeg, fs=64, nperseg=256, axis=-1); hf = p[:, (f >= 20) & (f < 30)].sum(1); tot = p[:, (f >= .5) & (f <= 30)].sum(1); delta = p[:, (f >= .5) & (f < 4)].sum(1) / tot; rms = eeg.std(1)
kind = np.full(len(ids), "", object)
for r in np.unique(rec):
    s = rec == r; n2 = s & (truth == "N2"); rr = rms / np.median(rms[n2]); hh = hf / np.median(hf[n2])
    kind[s] = np.where((rr[s] > 1.4) & (hh[s] > 10), "move", np.where(delta[s] > 0.7, "active", "quiet"))
pred = clf.predict(fr)
from sklearn.metrics import cohen_kappa_score
print("LR on 7 sim band powers (5 stages, one-lead sim) applied to DREAMS: kappa", round(cohen_kappa_score(truth, pred), 3), "acc", round((pred == truth).mean(), 3))
for k in ("quiet", "active", "move"):
    sel = (truth == "W") & (kind == k); u, c = np.unique(pred[sel], return_counts=True); print("  W", k, sel.sum(), {str(a): int(b) for a, b in zip(u, c)})
print("feature means (delta,theta,alpha,sigma,beta1,beta2,logrms): sim active W", np.round(fs[(st == "W") & (kinds == "active")].mean(0), 2))
print("  real active W", np.round(fr[(truth == "W") & (kind == "active")].mean(0), 2))
print("  sim N2", np.round(fs[st == "N2"].mean(0), 2), " real N2", np.round(fr[truth == "N2"].mean(0), 2))
