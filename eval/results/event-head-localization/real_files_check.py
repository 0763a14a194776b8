"""The event head on the real files (DREAMS EEG excerpts, the Nox clinical file): the events it reads from the raw
input, and those left where each epoch has the event's inputs (airflow or belts for breathing events, EEG for
arousals). Run: python real_files_check.py WORKSPACE [WORKSPACE ...]"""
import sys, warnings; warnings.filterwarnings("ignore")
from sleeplm.eval.context import EvalContext
from sleeplm.encoder.model.facts import event_inputs_present, fact_model_for, night_events_from_probs


def counts(events, types):
    return {t: n for t in types if (n := sum(1 for e in events if e[0] == t))}


for ws in sys.argv[1:]:
    ctx = EvalContext.open(ws)
    fm = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
    types = fm.reader.event_types
    for rid, g in ctx.epochs().groupby("recording_id"):
        ids, onset = g["epoch_id"].to_numpy(), g["onset_s"].to_numpy()
        p = fm.event_probabilities(ctx.signals(ids))
        ctx.drop_signals()
        seen = event_inputs_present(types, ctx.channel_masks(ids))
        raw = night_events_from_probs(p, onset, types, fm.patch_s)
        kept = night_events_from_probs(p * seen[:, None, :], onset, types, fm.patch_s)
        print(f"{g['recording'].iloc[0]:10s} {len(g):3d} epochs  read from the raw input {counts(raw, types)}  "
              f"where the inputs exist {counts(kept, types)}")
