"""What a model calls the real wake epochs of a workspace, by kind of wake (quiet, active, movement).

Kinds, per recording, from the central EEG as the model reads it (relative to the recording's median N2 epoch):
movement = RMS above 1.4 x and 20-30 Hz power above 10 x; active = delta above 0.7 of 0.5-30 Hz power; quiet = the rest.

    python eval/results/wake-artifacts/wake_kinds.py WORKSPACE MODEL [MODEL ...]   # output: wake_kinds.txt
"""
import sys
from pathlib import Path

import numpy as np
from scipy.signal import welch
from sleeplm.encoder.vocab import CHANNEL_INDEX
from sleeplm.eval.context import EvalContext
from sleeplm.eval.staging import load_prompts, predict_stages

for model in sys.argv[2:]:
    ctx = EvalContext.open(Path(sys.argv[1]), model=model)
    ep = ctx.scored_epochs(); ids = ep["epoch_id"].to_numpy()
    x = ctx.signals(ids, brain_scale=ctx.model.brain_scale)
    v = ctx.model.encode_signal(x.astype(np.float32))
    pred = predict_stages(ctx.model, v, load_prompts())
    truth = ep["stage"].to_numpy(object); rec = ep["recording_id"].to_numpy()
    eeg = x[:, CHANNEL_INDEX["EEG_C3"]]
    if np.abs(eeg).sum()==0: eeg = x[:, CHANNEL_INDEX["EEG_C4"]]
    rms = eeg.std(1); f,p = welch(eeg, fs=64, nperseg=256, axis=-1); hf = p[:,(f>=20)&(f<30)].sum(1)
    tot = p[:,(f>=.5)&(f<=30)].sum(1); delta = p[:,(f>=.5)&(f<4)].sum(1)/tot
    kind = np.full(len(ids), "", object)
    for r in np.unique(rec):
        s = rec==r; n2 = s&(truth=="N2")
        rr = rms/np.median(rms[n2]); hh = hf/np.median(hf[n2])
        kind[s] = np.where((rr[s]>1.4)&(hh[s]>10), "move", np.where(delta[s]>0.7, "active", "quiet"))
    w = truth=="W"
    print(model)
    for k in ["quiet","active","move"]:
        sel = w&(kind==k)
        u,c = np.unique(pred[sel], return_counts=True)
        print("  W", k, sel.sum(), dict(zip(u,c)))
