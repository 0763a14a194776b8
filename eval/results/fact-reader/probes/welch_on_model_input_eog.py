import sys
import warnings; warnings.filterwarnings("ignore")
import numpy as np
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.signals.eog import eog_band_powers
from sleeplm.encoder.train.data import EpochCaptions
ctx = EvalContext.open(sys.argv[1]); e = ctx.epochs()
ids = np.sort(np.random.default_rng(0).choice(e["epoch_id"].to_numpy(), 200, replace=False))
x = ctx.signals(ids); refs = ctx.captions(ids, 'brain')
for ch, sec in ((4, 'eog_l'), (5, 'eog_r')):
    sem, rem = eog_band_powers(x[:, ch].astype(np.float64), 64.0)
    ref = np.array([parse_caption(r, 'brain').sections[sec].values.get('sem_rel_pct', np.nan) for r in refs])
    print('fresh', sec, np.nanmedian(np.abs(sem - ref)), np.corrcoef(sem, ref)[0, 1])
tr = EpochCaptions(sys.argv[2]); idx = np.arange(0, len(tr), 50)
xs = tr.signals(idx)
for ch, sec in ((4, 'eog_l'), (5, 'eog_r')):
    sem, rem = eog_band_powers(xs[:, ch].astype(np.float64), 64.0)
    ref = np.array([parse_caption(tr.caption(int(i), 'brain'), 'brain').sections.get(sec).values.get('sem_rel_pct', np.nan) if sec in parse_caption(tr.caption(int(i), 'brain'), 'brain').sections else np.nan for i in idx])
    ok = np.isfinite(ref) & np.isfinite(sem)
    print('train', sec, ok.sum(), np.nanmedian(np.abs(sem - ref)[ok]), np.corrcoef(sem[ok], ref[ok])[0, 1])
