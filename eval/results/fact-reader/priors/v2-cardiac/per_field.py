"""Per value accuracy of the shipped reader's numbers (read with its measured priors) on 400 fresh-cohort epochs."""
import sys, collections, warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
ctx = EvalContext.open(sys.argv[1])
e = ctx.epochs(); rng = np.random.default_rng(0)
ids = np.sort(rng.choice(e["epoch_id"].to_numpy(), 400, replace=False))
x = ctx.signals(ids)
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
read = read_facts(fm, x)
for track in ["brain", "cardiac"]:
    vals = fm.values(read[0], track); refs = ctx.captions(ids, track)
    acc = collections.defaultdict(list)
    for i, ref in enumerate(refs):
        for sec, s in parse_caption(ref, track).sections.items():
            for k, v in s.values.items():
                acc[f"{sec}.{k}"].append(value_close(float(vals[f"{sec}.{k}"][i]), v) if f"{sec}.{k}" in vals else False)
    print(track)
    for k, v in acc.items(): print(f"  {k:35s} {np.mean(v):.3f} n={len(v)}")
