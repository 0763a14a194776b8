"""Misspellings of the words the planner knows, corrected before a question is read ("higest" → "highest")."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

#: Words the planner knows; a close misspelling of one (difflib ratio ≥ 0.8) is read as it.
KEYWORDS: tuple[str, ...] = (
    "which", "night", "nights", "highest", "lowest", "average", "median", "mean", "efficiency", "sleep",
    "apnea", "apneas", "hypopnea", "hypopneas", "arousal", "arousals", "desaturation", "desaturations",
    "obstructive", "central", "subject", "subjects", "patient", "patients", "women", "female", "females",
    "male", "males", "phenotype", "compare", "comparison", "between", "across", "cohort", "recording",
    "recordings", "heart", "rate", "during", "latency", "hypnogram", "oldest", "youngest", "missing",
    "channel", "channels", "many", "number", "older", "younger", "above", "below", "greater", "total",
    "minutes", "lower", "higher", "trend", "increase", "correlate", "correlation", "describe", "longest",
    "shortest", "most", "fewest", "least", "maximum", "minimum", "phenotypes", "index", "percentage",
    "percent", "number", "efficient", "saturation", "oxygen", "desaturation", "wake", "arousal",
    "lights", "hours", "half", "first", "last", "second", "onset", "after", "before", "midnight", "clock",
    "latter", "final", "since", "until",
    # near-misses of the words above that are words of their own ("position changes" is not "channels")
    "change", "changes", "changed", "chance", "efficient", "hour", "compared", "slept", "obese",
    "duration", "durations", "lasting", "seconds",  # "apnea duration" is not "apnea desaturation"
    "shorter", "longer", "short", "long", "eldest",  # "apneas shorter than 15 s" is not "shortest"
    "asleep", "awake",  # "how long did it take to fall asleep" is the latency, not "fall sleep" (total sleep time)
)
_PROTECTED = re.compile(r"^(sim|s)\d|^\d|^n[123]$|^rem$|^ahi$|^odi$|^tst$|^waso$|^bmi$")


#: Short misspellings the similarity rule cannot reach (it leaves words under 4 letters alone).
_SHORT = {"hw": "how", "wat": "what", "wht": "what", "whcih": "which", "hwo": "how"}


def correct_spelling(text: str, keep: Iterable[str] = ()) -> str:
    """The text with close misspellings of :data:`KEYWORDS` replaced ("avrage sleep efficency"); the words in
    ``keep`` (the cohort's recording names and subject ids: "night-a" is not a misspelt "night") stay."""
    kept = {k.lower() for k in keep}

    def fix(m: re.Match[str]) -> str:
        w = m.group(0)
        if w in _SHORT and w not in kept:
            return _SHORT[w]
        if len(w) < 4 or w in KEYWORDS or w in kept or _PROTECTED.match(w):
            return w
        close = difflib.get_close_matches(w, KEYWORDS, n=1, cutoff=0.8)
        return close[0] if close else w
    return re.sub(r"[a-z][a-z0-9'-]*", fix, text.lower())
