"""The real Nox file staged with every channel and with its central EEG alone (tests/eval/test_more_channels.py's check).

    python eval/results/wake-artifacts/nox_check.py MODEL [MODEL ...]   # output: nox_check.txt
"""
import sys
from pathlib import Path

import numpy as np
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.vocab import CHANNEL_INDEX
from sleeplm.eval.staging import load_prompts, predict_stages
from sleeplm.index.models import resolve_model

NOX = Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "nox-a1-2min" / "subject1.edf"


def _eeg_only(x: np.ndarray) -> np.ndarray:
    """The epochs as a recording with only its central EEG is cut (zeros, POS -1)."""
    y = np.zeros_like(x)
    eeg = [CHANNEL_INDEX["EEG_C3"], CHANNEL_INDEX["EEG_C4"]]
    y[:, eeg] = x[:, eeg]
    y[:, CHANNEL_INDEX["POS"]] = -1.0
    return y



def main() -> None:
    for m in sys.argv[1:]:
        model, prompts = resolve_model(m).load(), load_prompts()
        psg = load_psg(NOX)
        x = make_epochs(psg.mapped, psg.annotations, brain_scale=model.brain_scale).x.astype(np.float32)
        full = predict_stages(model, model.encode_signal(x), prompts)
        eeg = predict_stages(model, model.encode_signal(_eeg_only(x)), prompts)
        print(Path(m).name, "every channel:", " ".join(full), "| EEG alone:", " ".join(eeg), "| same",
              int((full == eeg).sum()), "of", len(x))


if __name__ == "__main__":
    main()
