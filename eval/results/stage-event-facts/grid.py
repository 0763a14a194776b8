"""The grid of stage temperature T and event weight lam on the saved validation inputs (probe_val.py); prints R@10
both ways (ties with wrong items count against the query, as in sleeplm eval). Run: python grid.py INPUTS.npz"""
import sys, numpy as np, warnings; warnings.filterwarnings("ignore")
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import retrieval_ranks, recall_at_k
d = np.load(sys.argv[1], allow_pickle=True)
cos, probs, texts, stages = d["cos"], d["probs"], list(d["texts"]), list(d["stages"])
types = ('obstructive_apnea', 'central_apnea', 'mixed_apnea', 'hypopnea', 'arousal')
have = np.array([bool(t) for t in texts]); rows = np.flatnonzero(have)
distinct, groups = np.unique(np.array([texts[i] for i in rows], dtype=object), return_inverse=True)
T = probs.shape[1]; centres = np.arange(T) + 0.5
st = []; Y = np.zeros((len(distinct), T, len(types)))
seen = set()
for j, t in enumerate(distinct):
    f = parse_caption(str(t), "stage_event")
    st.append(stages.index(f.stage) if f.stage in stages else -1)
    for e in f.events:
        seen.add(e.type)
        if e.type in types:
            k = types.index(e.type); Y[j, (centres >= e.start_s) & (centres < e.end_s), k] = 1
st = np.array(st)
p = np.clip(probs[rows], 1e-4, 1 - 1e-4)
lp, lq = np.log(p), np.log(1 - p)
# event log-likelihood [epochs, texts]
ev = np.einsum("ntk,mtk->nm", lp, Y) + np.einsum("ntk,mtk->nm", lq, 1 - Y)
own = groups[:, None] == np.arange(len(distinct))[None, :]
def r10(sim):
    a = recall_at_k(retrieval_ranks(sim, own), 10); b = recall_at_k(retrieval_ranks(sim.T, own.T), 10); return a, b
print("types seen", sorted(seen), "distinct", len(distinct), "unknown stage texts", (st < 0).sum())
for temp in (0.02, 0.05, 0.1):
    z = cos[rows] / temp; lps = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    stage_ll = np.where(st[None, :] >= 0, lps[:, np.maximum(st, 0)], 0.0)
    for lam in (0.0, 0.1, 0.3, 1.0, 3.0):
        s2t, t2s = r10(stage_ll + lam * ev)
        print(f"T {temp:5.2f} lam {lam:4.1f}  R@10 s->t {s2t:.3f}  t->s {t2s:.3f}  mean {(s2t+t2s)/2:.3f}")
print("events only", r10(ev))
