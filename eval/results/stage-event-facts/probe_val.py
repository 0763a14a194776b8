"""stage_event retrieval in the fact reader's space, tuned on the validation split (val-mad, 9 x 6 h, never trained
on, not the fresh cohort): score(epoch, text) = log p(text's stage | epoch) [zero-shot, softmax(cos / T)]
+ lam * sum over patches and readable event types of the Bernoulli log-likelihood of the text's event timeline under
the event head's per-patch probabilities. Saves the inputs so the grid is cheap.

Run: python probe_val.py SPLIT_DIR OUT.npz   (SPLIT_DIR: the val-mad split of tiny-stage-anchor-mad's recipe)."""
import sys, warnings, itertools; warnings.filterwarnings("ignore")
import numpy as np, torch
from pathlib import Path
from sleeplm.encoder.model.api import load_model
from sleeplm.encoder.model.facts import facts_path, load_fact_model
from sleeplm.encoder.model.factory import bundled_weights
from sleeplm.encoder.train.data import EpochCaptions
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.eval.staging import load_prompts, stage_prototypes
from sleeplm.eval.metrics import retrieval_ranks, recall_at_k
data = EpochCaptions(Path(sys.argv[1]))
rng = np.random.default_rng(2); idx = np.sort(rng.choice(len(data), 1000, replace=False))
x = data.signals(idx)
m = load_model("sleeplm-tiny")
v = m.encode_signal(x)
stages, protos = stage_prototypes(m, load_prompts())
cos = v @ protos.T
fm = load_fact_model(facts_path(bundled_weights("sleeplm-tiny")))
with torch.no_grad():
    probs = np.concatenate([torch.sigmoid(fm.reader.events(fm.reader.tower.forward_features(torch.from_numpy(x[s:s+64])))).numpy() for s in range(0, len(x), 64)])
texts = [data.caption(int(i), "stage_event") for i in idx]
np.savez(sys.argv[2], cos=cos, probs=probs, texts=np.array(texts, dtype=object), stages=np.array(stages), allow_pickle=True)
print(probs.shape, stages, fm.reader.event_types)
