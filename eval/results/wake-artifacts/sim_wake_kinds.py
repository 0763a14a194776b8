"""What models call simulated wake epochs, by kind, from the central EEG alone (4 nights x 2 h with wake artifacts, seed
3131, site aasm; kinds as in wake_kinds.py).

    python eval/results/wake-artifacts/sim_wake_kinds.py MODEL [MODEL ...]   # output: sim_wake_kinds.txt

It also prints how well a logistic regression on 7 spectral features tells the one-lead active-wake epochs from N2
(5-fold, balanced accuracy): whether the information is in the input at all.
"""
import sys
from pathlib import Path

import numpy as np
from scipy.signal import welch
from sleeplm.encoder.io.channels import map_channels
from sleeplm.encoder.io.records import Recording
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.sim import SITES, draw_subject, simulate_night
from sleeplm.encoder.vocab import CHANNEL_INDEX
from sleeplm.eval.staging import load_prompts, predict_stages
from sleeplm.index.models import resolve_model


def one_lead_wake_epochs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x [N, 10, 1920] with the central EEG alone, stages, wake kinds) of the 4 simulated nights."""
    xs, st, kinds = [], [], []
    for i in range(4):
        rng = np.random.default_rng([3131, i])
        night = simulate_night(draw_subject(i, rng, site=SITES[0]), rng, 2.0, wake_artifacts=True)
        rec = Recording(Path(f"{night.stem}.edf"), night.start_time, night.duration_s, list(night.signals))
        ep = make_epochs(map_channels(rec), night.annotations(), brain_scale="mad")
        x = ep.x.astype(np.float32); y = np.zeros_like(x); y[:, CHANNEL_INDEX["EEG_C3"]] = x[:, CHANNEL_INDEX["EEG_C3"]]; y[:, CHANNEL_INDEX["POS"]] = -1
        s = np.asarray(ep.stages, object); eeg = y[:, CHANNEL_INDEX["EEG_C3"]]
        f, p = welch(eeg, fs=64, nperseg=256, axis=-1); tot = p[:, (f>=.5)&(f<=30)].sum(1)
        delta = p[:, (f>=.5)&(f<4)].sum(1)/tot; hf = p[:, (f>=20)&(f<30)].sum(1); rms = eeg.std(1); n2 = s=="N2"
        rr = rms/np.median(rms[n2]); hh = hf/np.median(hf[n2])
        kinds += list(np.where((rr>1.4)&(hh>10), "move", np.where(delta>0.7, "active", "quiet"))); xs.append(y); st += list(s)
    x = np.concatenate(xs); st = np.array(st, object); kinds = np.array(kinds, object)
    return x, st, kinds


def main() -> None:
    x, st, kinds = one_lead_wake_epochs()
    # Are one-lead active-wake epochs separable from N2 at all? A logistic regression on 7 spectral features, 5-fold.
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    eeg_all = x[:, CHANNEL_INDEX["EEG_C3"]]
    f, p = welch(eeg_all, fs=64, nperseg=256, axis=-1)
    tot = p[:, (f >= .5) & (f <= 30)].sum(1)
    feats = np.column_stack([np.log(p[:, (f >= lo) & (f < hi)].sum(1) / tot)
                             for lo, hi in ((.5, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 30))] + [np.log(eeg_all.std(1))])
    pair = ((st == "W") & (kinds == "active")) | (st == "N2")
    bal = cross_val_score(LogisticRegression(max_iter=2000, class_weight="balanced"), feats[pair],
                          (st[pair] == "W").astype(int), cv=5, scoring="balanced_accuracy").mean()
    print(f"one-lead active wake vs N2, logistic regression on band powers: balanced accuracy {bal:.3f} (n {pair.sum()})")
    for m in sys.argv[1:]:
        model = resolve_model(m).load(); pred = predict_stages(model, model.encode_signal(x), load_prompts())
        print(Path(m).name)
        for k in ("quiet", "active", "move"):
            sel = (st=="W")&(kinds==k); u, c = np.unique(pred[sel], return_counts=True)
            print(f"  W {k} {sel.sum()}", {str(a): int(b) for a, b in zip(u, c)})
        sel = st=="N2"; u, c = np.unique(pred[sel], return_counts=True); print("  N2", sel.sum(), {str(a): int(b) for a, b in zip(u, c)})


if __name__ == "__main__":
    main()
