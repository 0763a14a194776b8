"""The real Nox file (4 epochs): the chin EMG relative tone read by the shipped reader through read_facts with the
night's reference, and without it (the head alone), against the reference captions' tone."""
import sys, warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
ctx = EvalContext.open(sys.argv[1])
ids = ctx.epochs()["epoch_id"].to_numpy()
fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
x = ctx.signals(ids)
with_ref = fm.values(read_facts(fm, x, ctx.night_emg_rms(ids))[0], "somatic")["emg.tone_rel_pct"]
head = fm.values(read_facts(fm, x)[0], "somatic")["emg.tone_rel_pct"]
ok_ref, ok_head = 0, 0
for i, cap in enumerate(ctx.captions(ids, "somatic")):
    ref = parse_caption(cap, "somatic").sections["emg"].values["tone_rel_pct"]
    ok_ref += value_close(float(with_ref[i]), ref); ok_head += value_close(float(head[i]), ref)
    print(f"epoch {i}: caption {ref:6.1f} %   read with the night's reference {with_ref[i]:6.1f}   head alone {head[i]:6.1f}")
print(f"within tolerance: with the reference {ok_ref}/{len(ids)}, head alone {ok_head}/{len(ids)}")
