"""Somatic fact-reader R@10 on the retrieval task's pool, as read and with the EMG relative tone replaced by its
measurement on the night's model input (median epoch RMS of the night's >=10-Hz EMG as the reference)."""
import sys, warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.signals.emg import emg_features
from sleeplm.encoder.io.records import Signal
from sleeplm.encoder.vocab import SLEEPLM_CHANNELS
from sleeplm.eval.tasks.retrieval import fact_retrieval
ctx = EvalContext.open(sys.argv[1])
e = ctx.epochs().sort_values(["recording_id", "epoch_index"])
allx = ctx.signals(e["epoch_id"].to_numpy())
emg = allx[:, SLEEPLM_CHANNELS.index("EMG_CHIN")].astype(np.float64)
tone = {}
for rid in np.unique(e["recording_id"]):
    idx = np.flatnonzero(e["recording_id"].to_numpy() == rid)
    f = emg_features(Signal("EMG", emg[idx].reshape(-1), 64.0, "uV"), np.arange(len(idx)) * 30.0)
    for j, t in zip(idx, f["emg_tone_rel_pct"]): tone[int(e["epoch_id"].iloc[j])] = t
pool = ctx.sample(ctx.epochs(), 1000, salt=2); ids = pool["epoch_id"].to_numpy()
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
read = read_facts(fm, ctx.signals(ids))
caps = ctx.captions(ids, "somatic")
def r10(rd): return [round(d.row()["R@10"], 3) for d in fact_retrieval(fm, rd, caps, "somatic")]
print("as read", r10(read))
col = fm.space.names.index("somatic:emg.tone_rel_pct")
phys = np.full((len(ids), len(fm.space.names)), np.nan); phys[:, col] = [tone[int(i)] for i in ids]
z = read[0].copy(); zt = fm.space.to_normal(phys)[:, col]; z[:, col] = np.where(np.isfinite(zt), zt, z[:, col])
print("tone measured", r10((z, read[1])))
