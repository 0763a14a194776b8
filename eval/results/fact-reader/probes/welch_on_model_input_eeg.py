import sys
import warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
from sleeplm.encoder.signals.eeg import eeg_band_powers
ctx = EvalContext.open(sys.argv[1]); e = ctx.epochs()
ids = np.sort(np.random.default_rng(0).choice(e["epoch_id"].to_numpy(), 400, replace=False))
x = ctx.signals(ids); refs = ctx.captions(ids, 'brain')
bp = eeg_band_powers(x[:, 6].astype(np.float64), 64.0)
for b in bp:
    hits=[]; err=[]
    for i, r in enumerate(refs):
        f = parse_caption(r, 'brain'); v = f.sections.get('eeg_c3').values.get(f'{b}_rel_pct')
        hits.append(value_close(bp[b][i], v)); err.append(bp[b][i]-v)
    print(b, np.mean(hits), np.median(np.abs(err)), np.mean(err))
