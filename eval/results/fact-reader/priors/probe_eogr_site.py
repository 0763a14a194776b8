import numpy as np, warnings, collections; warnings.filterwarnings("ignore")
from sleeplm.encoder.train.data import EpochCaptions
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.signals.eog import eog_band_powers
tr = EpochCaptions("/work/runs25/data/train")
ep = tr.epochs
idx = np.arange(0, len(tr), 7)
xs = tr.signals(idx)
caps = [parse_caption(tr.caption(int(i), 'brain'), 'brain') for i in idx]
res = {}
for ch, sec in ((4, 'eog_l'), (5, 'eog_r')):
    sem, _ = eog_band_powers(xs[:, ch].astype(np.float64), 64.0)
    ref = np.array([c.sections[sec].values.get('sem_rel_pct', np.nan) if sec in c.sections else np.nan for c in caps])
    res[sec] = sem - ref
e = ep.iloc[idx]
for key in ["site", "rendition"]:
    for v in sorted(set(e[key].astype(str))):
        m = (e[key].astype(str) == v).to_numpy()
        print(key, v, m.sum(), *[f"{sec} medabs {np.nanmedian(np.abs(res[sec][m])):.1f} bias {np.nanmedian(res[sec][m]):.1f}" for sec in res])
