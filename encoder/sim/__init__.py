"""Synthetic PSG cohort: hypnograms, EEG/EOG/EMG/ECG/respiration/SpO2/position, events, phenotypes, sites.

>>> from sleeplm.encoder.sim import simulate_cohort, simulate_night, draw_subject
>>> from sleeplm.encoder.sim import randomize, Knobs   # domain randomization for training
"""

from __future__ import annotations

from sleeplm.encoder.sim.cohort import night_rngs, simulate_cohort, write_night
from sleeplm.encoder.sim.events import ScoredEvent
from sleeplm.encoder.sim.night import NightLabels, SimulatedNight, simulate_night, simulate_night_labels
from sleeplm.encoder.sim.phenotypes import PHENOTYPES, SITES, PhenotypeParams, Subject, draw_subject
from sleeplm.encoder.sim.randomize import Knobs, randomize, randomized_file_signals
from sleeplm.encoder.sim.writers import nsrr_xml, write_edf, write_nsrr_xml, write_subjects_csv, write_truth

__all__ = [
    "PHENOTYPES", "SITES", "Knobs", "NightLabels", "PhenotypeParams", "ScoredEvent", "SimulatedNight", "Subject",
    "draw_subject", "night_rngs", "nsrr_xml", "randomize", "randomized_file_signals", "simulate_cohort",
    "simulate_night", "simulate_night_labels", "write_edf", "write_night", "write_nsrr_xml", "write_subjects_csv",
    "write_truth",
]
