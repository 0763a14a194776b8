"""Is one-lead active wake apart from N2 in a model's embedding, or only in its zero-shot call?

On the simulated one-lead epochs of sim_wake_kinds.py (4 nights x 2 h with wake artifacts, seed 3131): a logistic
regression on the model's 512-d (or 256-d) epoch vectors, 5-fold balanced accuracy, for active wake vs N2, quiet wake
vs N2 and active vs quiet wake; beside it the same probe on 7 band powers (the input's own information), and where
the active-wake vectors sit: cosine to each stage prompt's text vector (mean over the epochs, per stage).

    python eval/results/wake-artifacts/embedding_probe.py MODEL [MODEL ...]   # output: embedding_probe.txt
"""
import sys
from pathlib import Path

import numpy as np
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

sys.path.insert(0, str(Path(__file__).parent))
from sim_wake_kinds import one_lead_wake_epochs  # noqa: E402

from sleeplm.encoder.vocab import CHANNEL_INDEX  # noqa: E402
from sleeplm.eval.staging import load_prompts, predict_stages  # noqa: E402
from sleeplm.index.models import resolve_model  # noqa: E402


def probe(features: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """5-fold balanced accuracy of a logistic regression telling ``positive`` rows from ``negative`` ones."""
    sel = positive | negative
    clf = LogisticRegression(max_iter=5000, class_weight="balanced", C=1.0)
    return float(cross_val_score(clf, features[sel], positive[sel].astype(int), cv=5, scoring="balanced_accuracy").mean())


def main() -> None:
    x, st, kinds = one_lead_wake_epochs()
    active, quiet, n2 = (st == "W") & (kinds == "active"), (st == "W") & (kinds == "quiet"), st == "N2"
    eeg = x[:, CHANNEL_INDEX["EEG_C3"]]
    f, p = welch(eeg, fs=64, nperseg=256, axis=-1)
    tot = p[:, (f >= .5) & (f <= 30)].sum(1)
    bands = np.column_stack([np.log(p[:, (f >= lo) & (f < hi)].sum(1) / tot)
                             for lo, hi in ((.5, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 30))] + [np.log(eeg.std(1))])
    print(f"epochs: active wake {active.sum()}, quiet wake {quiet.sum()}, N2 {n2.sum()}")
    print("| features | active W vs N2 | quiet W vs N2 | active vs quiet W |\n|---|---:|---:|---:|")
    print(f"| 7 band powers | {probe(bands, active, n2):.3f} | {probe(bands, quiet, n2):.3f} | {probe(bands, active, quiet):.3f} |")
    prompts = load_prompts()
    sims = {}
    for m in sys.argv[1:]:
        model = resolve_model(m).load()
        emb = model.encode_signal(x)
        print(f"| {Path(m).name} epoch vectors | {probe(emb, active, n2):.3f} | {probe(emb, quiet, n2):.3f} | "
              f"{probe(emb, active, quiet):.3f} |")
        pred = predict_stages(model, emb, prompts)
        text = {s: model.encode_text(list(v) if not isinstance(v, str) else [v]).mean(0) for s, v in prompts.items()}
        sims[Path(m).name] = ({s: float((emb[active] @ (t / np.linalg.norm(t))).mean()) for s, t in text.items()},
                              {s: float((emb[n2] @ (t / np.linalg.norm(t))).mean()) for s, t in text.items()},
                              float((pred[active] == "W").mean()))
    for name, (a, b, called) in sims.items():
        print(f"\n{name}: mean cosine to each stage's prompt vector (active wake / N2 epochs); active wake called W: {called:.3f}")
        for s in a:
            print(f"  {s}: {a[s]:+.3f} / {b[s]:+.3f}")


if __name__ == "__main__":
    main()
