"""Can the captions' cardiac values be measured on the model's 64-Hz ECG input? The project's own R-peak and
cardiac feature code run per epoch on the model input of 400 fresh-cohort epochs, against the reference captions."""
import numpy as np, collections, warnings; warnings.filterwarnings("ignore")
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.metrics import value_close
from sleeplm.encoder.signals.cardiac import detect_r_peaks_s, cardiac_features_from_peaks
ctx = EvalContext.open("/work/runs27/ws-fresh")
e = ctx.epochs(); rng = np.random.default_rng(0)
ids = np.sort(rng.choice(e["epoch_id"].to_numpy(), 400, replace=False))
x = ctx.signals(ids); refs = ctx.captions(ids, "cardiac")
acc = collections.defaultdict(list)
for i in range(len(ids)):
    ecg = x[i, 0].astype(np.float64)
    pk = detect_r_peaks_s(ecg, 64.0)
    f = cardiac_features_from_peaks(pk, np.array([0.0]))
    meas = {"ecg.beat_rate_bpm": f["ecg_hr_bpm"][0], "ecg.rmssd_ms": f["ecg_rmssd_ms"][0],
            "hr.min_bpm": f["hr_min_bpm"][0], "hr.max_bpm": f["hr_max_bpm"][0], "hr.mean_bpm": f["hr_mean_bpm"][0]}
    cap = parse_caption(refs[i], "cardiac")
    for sec, s in cap.sections.items():
        for k, v in s.values.items():
            n = f"{sec}.{k}"
            if n in meas:
                acc[n].append(value_close(float(meas[n]), v) if np.isfinite(meas[n]) else False)
for k, v in acc.items(): print(f"{k:20s} {np.mean(v):.3f} n={len(v)}")
