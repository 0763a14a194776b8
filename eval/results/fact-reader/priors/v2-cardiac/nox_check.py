"""Real Nox file (4 epochs): the reference captions' cardiac and brain values against the reader's, with the priors."""
import warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
ctx = EvalContext.open("/work/runs27/ws-nox")
ids = ctx.epochs()["epoch_id"].to_numpy()
x = ctx.signals(ids)
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
for name, read in (("without measurements (session 28 reader)", None), ("with measured priors", read_facts(fm, x))):
    if read is None:
        from sleeplm.encoder.model.facts import load_fact_model
        old = load_fact_model("/work/runs29/shipped.facts.safetensors"); read = old.read(x); model = old
    else:
        model = fm
    print(name)
    for track in ("cardiac", "brain"):
        vals = model.values(read[0], track); refs = ctx.captions(ids, track)
        ok, n, rows = 0, 0, []
        for i, ref in enumerate(refs):
            for sec, s in parse_caption(ref, track).sections.items():
                for k, v in s.values.items():
                    key = f"{sec}.{k}"
                    if key in vals:
                        good = value_close(float(vals[key][i]), v); ok += good; n += 1
                        if track == "cardiac" and i == 0: rows.append(f"{key} ref {v} read {vals[key][i]:.1f}")
        print(f"  {track}: {ok}/{n} within tolerance"); [print("   ", r) for r in rows]
