import numpy as np, collections
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
ctx = EvalContext.open("/work/runs27/ws-fresh")
e = ctx.epochs(); rng = np.random.default_rng(0)
ids = np.sort(rng.choice(e["epoch_id"].to_numpy(), 400, replace=False))
x = ctx.signals(ids)
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
read = fm.read(x)
for track in ["brain","cardiac","respiratory","somatic"]:
    vals = fm.values(read[0], track); refs = ctx.captions(ids, track)
    acc = collections.defaultdict(list)
    for i, ref in enumerate(refs):
        f = parse_caption(ref, track)
        for sec, s in f.sections.items():
            for k, v in s.values.items():
                name = f"{sec}.{k}"
                acc[name].append(value_close(float(vals[name][i]), v) if name in vals else False)
    print(track)
    for k, v in acc.items(): print(f"  {k:35s} {np.mean(v):.3f} n={len(v)}")
