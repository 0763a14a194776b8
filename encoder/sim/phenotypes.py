"""Subjects and phenotypes of the simulated cohort.

A :class:`Subject` carries the demographic attributes written to ``subjects.csv``
and a :class:`PhenotypeParams` record that drives every signal generator
(hypnogram, events, EEG, EMG, ECG, respiration). Attributes are drawn so that
they are consistent with the phenotype (e.g. severe OSA: older, male-leaning,
high BMI; insomnia: long latency and WASO).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Phenotypes, in the order a cohort cycles through them (varied night to night).
PHENOTYPES: tuple[str, ...] = (
    "healthy_young",
    "osa_moderate",
    "insomnia",
    "osa_severe",
    "healthy_older",
    "central_apnea",
    "osa_mild",
    "fragmented_sleep",
    "rem_without_atonia",
)

#: Site (channel-label convention) of night ``i`` is ``SITES[i % 3]``.
SITES: tuple[str, ...] = ("shhs", "aasm", "ref")

#: Target AHI range (events/h of sleep) per phenotype.
AHI_RANGES: dict[str, tuple[float, float]] = {
    "healthy_young": (0.5, 4.0),
    "healthy_older": (1.0, 4.5),
    "insomnia": (0.5, 4.0),
    "fragmented_sleep": (1.0, 4.5),
    "rem_without_atonia": (1.0, 4.5),
    "osa_mild": (6.0, 13.0),
    "osa_moderate": (17.0, 27.0),
    "osa_severe": (35.0, 80.0),
    "central_apnea": (18.0, 35.0),
}


@dataclass(frozen=True)
class PhenotypeParams:
    """Generator parameters of one night (all drawn once per subject).

    Durations in minutes where named ``_min``; rates per hour of sleep.
    """

    latency_min: float = 15.0  # sleep-onset latency
    awakenings_per_h: float = 1.2  # brief awakenings inserted into the sleep period
    wake_bout_epochs: float = 2.0  # mean length of an inserted awakening (30-s epochs)
    long_wake_per_night: float = 0.0  # extra long (10-30 min) awakenings (insomnia)
    n1_shifts_per_h: float = 1.0  # isolated N1 epochs inside N2/REM (fragmentation)
    n3_scale: float = 1.0  # multiplies the N3 minutes of each cycle
    rem_scale: float = 1.0  # multiplies the REM minutes of each cycle
    ahi: float = 2.0  # target apnea-hypopnea index
    central_fraction: float = 0.05  # fraction of respiratory events that are central
    mixed_fraction: float = 0.03
    hypopnea_fraction: float = 0.6
    resp_arousal_prob: float = 0.6  # P(arousal | respiratory event)
    arousal_index_spont: float = 8.0  # spontaneous arousals / h sleep
    plm_index: float = 2.0  # periodic limb movements / h sleep
    rem_atonia: bool = True  # False: REM without atonia (RBD-like)
    spo2_baseline: float = 96.5  # %
    desat_depth_scale: float = 1.0  # multiplies desaturation depth
    hr_base_bpm: float = 62.0  # heart rate in N2
    hrv_scale: float = 1.0  # multiplies RSA and LF heart-rate variability
    resp_rate_bpm: float = 14.0  # breathing rate in N2
    spindle_per_min: float = 3.0  # N2 spindle density
    supine_preference: float = 0.4  # probability weight of supine position


@dataclass(frozen=True)
class Subject:
    """One simulated subject (one night each)."""

    subject_id: str
    stem: str
    age: int
    sex: str  # "M" / "F"
    bmi: float
    phenotype: str
    site: str
    params: PhenotypeParams = field(default_factory=PhenotypeParams)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def draw_subject(
    index: int,
    rng: np.random.Generator,
    phenotype: str | None = None,
    site: str | None = None,
) -> Subject:
    """Draw a subject consistent with its phenotype.

    Parameters
    ----------
    index : int
        0-based position in the cohort; gives ``sim-0001`` style ids, and the default
        phenotype (``PHENOTYPES[index % 9]``) and site (``SITES[index % 3]``).
    rng : numpy.random.Generator
        Source of randomness.
    phenotype, site : str, optional
        Override the rotation.
    """
    phenotype = phenotype or PHENOTYPES[index % len(PHENOTYPES)]
    site = site or SITES[index % len(SITES)]
    if phenotype not in AHI_RANGES:
        raise ValueError(f"unknown phenotype {phenotype!r}; choose from {PHENOTYPES}")
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; choose from {SITES}")

    age_range = {
        "healthy_young": (20, 35), "healthy_older": (65, 80), "insomnia": (35, 65),
        "fragmented_sleep": (40, 70), "rem_without_atonia": (55, 78), "osa_mild": (35, 65),
        "osa_moderate": (40, 70), "osa_severe": (45, 72), "central_apnea": (55, 80),
    }[phenotype]
    age = int(rng.integers(age_range[0], age_range[1] + 1))
    p_male = {"osa_severe": 0.75, "osa_moderate": 0.65, "central_apnea": 0.8,
              "rem_without_atonia": 0.8, "insomnia": 0.35}.get(phenotype, 0.5)
    sex = "M" if rng.random() < p_male else "F"
    bmi_mu = {"osa_mild": 29.0, "osa_moderate": 32.0, "osa_severe": 36.0,
              "healthy_young": 23.0, "central_apnea": 27.0}.get(phenotype, 25.5)
    bmi = float(np.clip(rng.normal(bmi_mu, 2.5), 18.0, 50.0))

    # Age effects common to all phenotypes: less N3, more wake, lower HRV.
    age_f = (age - 20) / 60.0  # 0 at 20 y, 1 at 80 y
    p = PhenotypeParams(
        latency_min=float(rng.lognormal(np.log(12.0), 0.4)),
        awakenings_per_h=_u(rng, 0.6, 1.4) * (1.0 + 1.2 * age_f),
        wake_bout_epochs=2.0 + 2.0 * age_f,
        n3_scale=float(np.clip(1.25 - 0.9 * age_f + rng.normal(0, 0.1), 0.15, 1.4)),
        rem_scale=_u(rng, 1.0, 1.25),
        ahi=_u(rng, *AHI_RANGES[phenotype]),
        arousal_index_spont=_u(rng, 5, 10) * (1.0 + 0.5 * age_f),
        plm_index=_u(rng, 0, 4) + 10.0 * age_f * rng.random(),
        spo2_baseline=float(np.clip(rng.normal(96.5 - 0.08 * (bmi - 25), 1.0), 91.0, 99.0)),
        hr_base_bpm=float(rng.normal(62.0, 5.0)),
        hrv_scale=float(np.clip(1.3 - 0.8 * age_f + rng.normal(0, 0.1), 0.3, 1.5)),
        resp_rate_bpm=float(np.clip(rng.normal(14.0, 1.5), 10.0, 20.0)),
        spindle_per_min=float(np.clip(rng.normal(3.5 - 1.5 * age_f, 0.5), 0.8, 6.0)),
        supine_preference=_u(rng, 0.3, 0.5),
    )
    if phenotype == "insomnia":
        p = replace(p, latency_min=_u(rng, 40, 90), long_wake_per_night=_u(rng, 1.5, 3.5),
                    awakenings_per_h=p.awakenings_per_h * 1.5, n3_scale=p.n3_scale * 0.8)
    elif phenotype == "fragmented_sleep":
        p = replace(p, awakenings_per_h=_u(rng, 5.0, 8.0), wake_bout_epochs=1.5,
                    n1_shifts_per_h=_u(rng, 5.0, 8.0), arousal_index_spont=_u(rng, 20, 30),
                    n3_scale=p.n3_scale * 0.7)
    elif phenotype == "rem_without_atonia":
        p = replace(p, rem_atonia=False, plm_index=p.plm_index + _u(rng, 5, 15))
    elif phenotype.startswith("osa"):
        sev = {"osa_mild": 0.3, "osa_moderate": 0.6, "osa_severe": 1.0}[phenotype]
        p = replace(
            p, central_fraction=0.05, mixed_fraction=0.05 * sev, hypopnea_fraction=0.6 - 0.25 * sev,
            resp_arousal_prob=0.55 + 0.3 * sev, n3_scale=p.n3_scale * (1.0 - 0.5 * sev),
            rem_scale=p.rem_scale * (1.0 - 0.45 * sev), n1_shifts_per_h=1.0 + 5.0 * sev,
            desat_depth_scale=1.0 + 0.8 * sev, supine_preference=_u(rng, 0.45, 0.65),
            # Apnea-related awakenings: more and longer with severity (real apneic nights, slpdb: ~30 % wake).
            awakenings_per_h=p.awakenings_per_h + 3.0 * sev, wake_bout_epochs=p.wake_bout_epochs + 4.0 * sev,
            hr_base_bpm=p.hr_base_bpm + 4.0 * sev,
        )
    elif phenotype == "central_apnea":
        p = replace(p, central_fraction=0.7, mixed_fraction=0.05, hypopnea_fraction=0.15,
                    resp_arousal_prob=0.5, n1_shifts_per_h=3.0, desat_depth_scale=1.3)
    elif phenotype == "healthy_older":
        p = replace(p, awakenings_per_h=p.awakenings_per_h * 1.3)
    if age >= 60 and phenotype != "healthy_young":
        p = replace(p, latency_min=p.latency_min * 1.2)
    stem = f"sim-{index + 1:04d}"
    return Subject(subject_id=f"S{index + 1:04d}", stem=stem, age=age, sex=sex, bmi=round(bmi, 1),
                   phenotype=phenotype, site=site, params=p)
