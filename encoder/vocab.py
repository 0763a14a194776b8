"""The one vocabulary of sleeplm: channels, the model clock, stages, events, positions, tracks, age bands.

Every package imports these names from here; nothing else defines them. Names follow the AASM manual and
the SleepLM paper (Xu et al., arXiv 2602.23605).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# --- channels -------------------------------------------------------------------------------------------

#: The ten SleepLM model inputs, in the model's channel order (architecture §1).
SLEEPLM_CHANNELS: tuple[str, ...] = (
    "ECG", "ABD", "THX", "AF", "EOG_L", "EOG_R", "EEG_C3", "EEG_C4", "EMG_CHIN", "POS",
)
#: Index of each model input in the channel axis of the model's input tensor.
CHANNEL_INDEX: dict[str, int] = {c: i for i, c in enumerate(SLEEPLM_CHANNELS)}
#: The central EEG leads (the channels every recording of sleep is expected to have).
EEG_CHANNELS: tuple[str, ...] = ("EEG_C3", "EEG_C4")
#: Channels that are not model inputs but that features, captions and night metrics use.
AUX_CHANNELS: tuple[str, ...] = ("SPO2",)

# --- the model clock ------------------------------------------------------------------------------------

#: Sampling rate (Hz) and epoch length (s) the model expects.
MODEL_FS_HZ: int = 64
EPOCH_S: float = 30.0
EPOCH_SAMPLES: int = int(MODEL_FS_HZ * EPOCH_S)

# --- stages ---------------------------------------------------------------------------------------------

#: Normalised sleep stages (AASM), with UNKNOWN for unscored epochs. R&K S3 and S4 map to N3.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM", "UNKNOWN")
#: The five scored stages (classification labels, hypnogram rows, per-stage night vectors).
SCORED_STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
#: The four sleep stages (total sleep time, sleep onset).
SLEEP_STAGES: tuple[str, ...] = ("N1", "N2", "N3", "REM")
#: Stage names as the captions (and the official SleepLM captions) write them.
STAGE_NAMES: dict[str, str] = {
    "W": "Wake",
    "N1": "Light Sleep (N1)",
    "N2": "Stable Light Sleep (N2)",
    "N3": "Deep Sleep (N3)",
    "REM": "REM Sleep",
    "UNKNOWN": "Unscored Stage",
}

# --- events ---------------------------------------------------------------------------------------------

#: Normalised event vocabulary.
EVENT_TYPES: tuple[str, ...] = (
    "obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea",
    "oxygen_desaturation", "arousal", "limb_movement",
)
#: Apneas (the AHI's numerator with hypopneas).
APNEAS: tuple[str, ...] = ("obstructive_apnea", "central_apnea", "mixed_apnea")
#: Respiratory events counted by the AHI.
RESPIRATORY_EVENTS: tuple[str, ...] = APNEAS + ("hypopnea",)
#: The model inputs an event type's signs are read from: breathing events from airflow or the belts, arousals from the
#: EEG (oxygen desaturations and limb movements have none among the model's inputs).
EVENT_INPUTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(RESPIRATORY_EVENTS, ("AF", "ABD", "THX")),
    "arousal": ("EEG_C3", "EEG_C4"),
}
#: Event names as the captions write them.
EVENT_NAMES: dict[str, str] = {
    "obstructive_apnea": "Obstructive Apnea",
    "central_apnea": "Central Apnea",
    "mixed_apnea": "Mixed Apnea",
    "hypopnea": "Hypopnea",
    "oxygen_desaturation": "Oxygen Desaturation",
    "arousal": "Arousal",
    "limb_movement": "Limb Movement",
}

# --- scoring provenance ---------------------------------------------------------------------------------

#: The kinds of annotation a night records provenance for, and the event types each kind covers.
SCORING_KINDS: dict[str, tuple[str, ...]] = {
    "stages": (),
    "respiratory": RESPIRATORY_EVENTS,
    "desaturation": ("oxygen_desaturation",),
    "arousal": ("arousal",),
    "limb_movement": ("limb_movement",),
}


def scoring_kind_of(event_type: str) -> str | None:
    """The kind of scoring (:data:`SCORING_KINDS`) an event type belongs to (None: no kind lists it)."""
    return next((k for k, types in SCORING_KINDS.items() if event_type in types), None)


#: Who scored a kind: a person, an algorithm (the method is named), or nobody.
SCORING_STATES: tuple[str, ...] = ("manual", "automatic", "not scored")
#: Kind names as text writes them.
SCORING_KIND_NAMES: dict[str, str] = {
    "stages": "sleep stages", "respiratory": "respiratory events", "desaturation": "oxygen desaturations",
    "arousal": "arousals", "limb_movement": "limb movements",
}

# --- body position --------------------------------------------------------------------------------------

#: SleepLM body-position codes (the POS input channel).
POSITION_CODES: dict[str, int] = {"right": 0, "left": 1, "supine": 2, "prone": 3, "upright": 4, "unknown": -1}
#: Known positions, in code order.
POSITIONS: tuple[str, ...] = ("right", "left", "supine", "prone", "upright")

# --- caption tracks -------------------------------------------------------------------------------------

#: The five caption tracks, in the order captions are shown.
TRACKS: tuple[str, ...] = ("stage_event", "brain", "cardiac", "respiratory", "somatic")
#: The tracks in the order of the model's condition embedding (official checkpoint: index = position).
MODEL_TRACKS: tuple[str, ...] = ("brain", "cardiac", "respiratory", "somatic", "stage_event")
#: The model inputs each track's caption describes. A track none of whose inputs a recording has would be
#: captioned from other signals: such a caption states readings of signals that are not there.
TRACK_INPUTS: dict[str, tuple[str, ...]] = {
    "stage_event": SLEEPLM_CHANNELS, "brain": ("EOG_L", "EOG_R", "EEG_C3", "EEG_C4"), "cardiac": ("ECG",),
    "respiratory": ("ABD", "THX", "AF"), "somatic": ("EMG_CHIN", "POS"),
}
#: Official checkpoint modality names and common synonyms -> our track names.
TRACK_ALIASES: dict[str, str] = {"heart": "cardiac", "position_muscle": "somatic", "respiration": "respiratory"}

# --- subjects -------------------------------------------------------------------------------------------

#: Age bands (label, lower bound inclusive, upper bound exclusive), years.
#: Plausible subject attributes: ages (years) and BMIs (kg/m²) outside these are data-entry errors.
MAX_AGE_Y = 120.0
BMI_RANGE = (10.0, 100.0)
AGE_BANDS: tuple[tuple[str, float, float], ...] = (("<40", 0.0, 40.0), ("40-59", 40.0, 60.0), ("60+", 60.0, math.inf))


def age_band(age: float | None) -> str | None:
    """The :data:`AGE_BANDS` label of an age in years, or None when the age is unknown."""
    if age is None or (isinstance(age, float) and math.isnan(age)) or not 0 <= age <= MAX_AGE_Y:
        return None  # unknown, or not a human age (a data-entry error is not a band)
    return next(label for label, lo, hi in AGE_BANDS if lo <= age < hi)


def age_band_sql(column: str) -> str:
    """A SQL CASE expression mapping an age column to its :data:`AGE_BANDS` label (NULL when unknown)."""
    whens = " ".join(f"WHEN {column} < {hi} THEN '{label}'" for label, _, hi in AGE_BANDS if math.isfinite(hi))
    return f"CASE WHEN {column} IS NULL THEN NULL {whens} ELSE '{AGE_BANDS[-1][0]}' END"


def absent_track_inputs(track: str, present: Iterable[str]) -> tuple[str, ...]:
    """The inputs of ``track`` (:data:`TRACK_INPUTS`) that are not among the ``present`` channels, in order."""
    have = set(present)
    return tuple(c for c in TRACK_INPUTS[track] if c not in have)


def withheld_caption_reason(track: str, present: Iterable[str]) -> str | None:
    """Why the model's caption of ``track`` is not shown for a recording with only the ``present`` channels (None
    when the recording has at least one of the track's inputs)."""
    absent = absent_track_inputs(track, present)
    if track == "stage_event" or len(absent) < len(TRACK_INPUTS[track]):
        return None
    return (f"the recording has none of this track's inputs ({', '.join(absent)}), so a caption would describe "
            "signals the model was not given")
