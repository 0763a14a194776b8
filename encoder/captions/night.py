"""Night and segment summaries in words, from :mod:`sleeplm.encoder.signals.night` metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from sleeplm.encoder.io.records import Scoring
from sleeplm.encoder.signals.night import NightMetrics
from sleeplm.encoder.vocab import SCORING_KIND_NAMES, STAGE_NAMES


def _f(v: float | None, d: int = 1) -> str | None:
    return None if v is None or not math.isfinite(v) else f"{v:.{d}f}"


#: Sleep time (min) below which an AHI is given without a severity class: an index from little sleep is too noisy to
#: grade (one event in 17 min is 3.5/h). 2 h follows AASM's split-night protocol, which asks for at least 2 h of
#: diagnostic recording before treatment is decided on.
MIN_SLEEP_FOR_SEVERITY_MIN = 120.0


def ahi_severity(ahi: float | None, tst_min: float | None = None) -> str:
    """AASM adult severity: normal < 5, mild 5-15, moderate 15-30, severe >= 30 events/h; not graded when the
    night's total sleep time ``tst_min`` is under :data:`MIN_SLEEP_FOR_SEVERITY_MIN`."""
    if ahi is None or not math.isfinite(ahi):
        return "unknown"
    if tst_min is not None and math.isfinite(tst_min) and tst_min < MIN_SLEEP_FOR_SEVERITY_MIN:
        return (f"not graded: only {tst_min:.1f} min of sleep, under the {MIN_SLEEP_FOR_SEVERITY_MIN / 60:g} h this "
                "tool asks for before giving a severity class")
    return "normal" if ahi < 5 else "mild" if ahi < 15 else "moderate" if ahi < 30 else "severe"


#: Minutes of a stage under which an index within that stage (events per hour of REM, of N2 ...) is too noisy to rely
#: on: one event in 10 min of REM is 6/h.
MIN_STAGE_FOR_INDEX_MIN = 30.0
#: REM sleep (min) under which a REM AHI is too noisy to call a night REM-related (stricter definitions of REM-related
#: OSA ask for at least 30 min of REM).
MIN_REM_FOR_REM_RELATED_MIN = MIN_STAGE_FOR_INDEX_MIN


@dataclass(frozen=True)
class RemRelated:
    """Whether a night's events fit REM-related OSA, by the usual rule and by the stricter one.

    ``usual`` / ``strict``: True, False, or None when it cannot be told (``why`` says why); ``ratio`` is REM AHI /
    NREM AHI (inf when only NREM AHI is 0), None when unknown or both are 0; ``little_rem``: under
    :data:`MIN_REM_FOR_REM_RELATED_MIN` of REM, so the REM AHI is not to be relied on.
    """

    usual: bool | None
    strict: bool | None
    ratio: float | None
    little_rem: bool
    why: str


def rem_related(ahi: float | None, rem_ahi: float | None, nrem_ahi: float | None, rem_min: float | None) -> RemRelated:
    """The rule of REM-related obstructive sleep apnea applied to one night's indices.

    Usual rule: AHI >= 5 and REM AHI >= 2 x NREM AHI. Stricter: also NREM AHI < 15 and at least
    :data:`MIN_REM_FOR_REM_RELATED_MIN` of REM. ``rem_min`` None means the REM time is unknown (then only the indices
    decide).
    """
    vals = (ahi, rem_ahi, nrem_ahi)
    if rem_min is not None and math.isfinite(rem_min) and rem_min == 0:
        return RemRelated(None, None, None, True, "no REM sleep was scored in this night")
    if any(v is None or not math.isfinite(v) for v in vals):
        return RemRelated(None, None, None, False, "the AHI, REM AHI or NREM AHI is unknown for this night")
    little = rem_min is not None and math.isfinite(rem_min) and rem_min < MIN_REM_FOR_REM_RELATED_MIN
    ratio = (None if rem_ahi == 0 else math.inf) if nrem_ahi == 0 else rem_ahi / nrem_ahi
    if ahi < 5:
        return RemRelated(False, False, ratio, little, f"the AHI ({ahi:.1f} events/h) is below 5")
    if ratio is None:  # events counted in the AHI but in neither REM nor NREM (epochs of unknown stage)
        return RemRelated(None, None, None, little, f"the REM and NREM AHI are both 0 although the AHI is {ahi:.1f}")
    if ratio < 2:
        return RemRelated(False, False, ratio, little, "REM AHI is under 2 × NREM AHI")
    if little:
        return RemRelated(True, False, ratio, True, f"only {rem_min:.1f} min of REM were scored")
    if nrem_ahi >= 15:
        return RemRelated(True, False, ratio, False, f"NREM AHI is {nrem_ahi:.1f}")
    return RemRelated(True, True, ratio, False, "")


def rem_related_reading(ahi: float | None, rem_ahi: float | None, nrem_ahi: float | None,
                        rem_min: float | None) -> str:
    """Whether a night's events fit REM-related obstructive sleep apnea, in words, with the rule applied
    (:func:`rem_related`). Says what it cannot tell: no REM, an unscored or missing index, or too little REM for the
    rule to be trusted.
    """
    v = rem_related(ahi, rem_ahi, nrem_ahi, rem_min)
    if v.usual is None:
        tail = " (the reason is given with each value)." if "unknown" in v.why else "."
        return f"REM-related sleep apnea cannot be assessed: {v.why}{tail}"
    if ahi is not None and ahi < 5:
        return f"Not REM-related sleep apnea: {v.why}, so there is no sleep apnea to call REM-related."
    assert v.ratio is not None
    ratio_txt = "REM AHI > 0 with NREM AHI 0" if math.isinf(v.ratio) else f"REM / NREM AHI ratio {v.ratio:.1f}"
    strict = f"the stricter definition (NREM AHI under 15 and at least {MIN_REM_FOR_REM_RELATED_MIN:g} min of REM)"
    if not v.usual:
        text = f"Not REM-related by the usual rule (REM AHI at least 2 × NREM AHI): {ratio_txt}."
    elif v.little_rem:
        text = (f"REM-related by the usual rule (REM AHI at least 2 × NREM AHI): {ratio_txt}; not by {strict}: "
                f"{v.why}, too little for the REM AHI to be relied on.")
    else:
        iso = f"also by {strict}" if v.strict else f"not by {strict}: {v.why}"
        text = f"REM-related by the usual rule (REM AHI at least 2 × NREM AHI): {ratio_txt}; {iso}."
    if v.little_rem and not v.usual:
        text += (f" Only {rem_min:.1f} min of REM were scored, under the {MIN_REM_FOR_REM_RELATED_MIN:g} min stricter "
                 "definitions ask for: the REM AHI rests on too little REM to be relied on.")
    return text


def _provenance(kind: str, scoring: Mapping[str, Scoring] | None) -> Scoring:
    return (scoring or {}).get(kind) or Scoring("manual")


def _auto_note(sc: Scoring) -> str:
    return f"; automatic scoring: {sc.method}" if sc.state == "automatic" and sc.method else (
        "; automatic scoring" if sc.state == "automatic" else "")


def night_summary(m: NightMetrics, scoring: Mapping[str, Scoring] | None = None) -> str:
    """A paragraph summarising the night; metrics that are NaN are left out.

    ``scoring`` (``Annotations.scoring``: kind -> :class:`Scoring`; None = everything scored by a
    person) decides what is said about each kind: an unscored kind is "not scored" with its reason,
    never "none" or an index of 0; an automatically scored one names its method.
    """
    s = []
    stages = _provenance("stages", scoring)
    if not stages.scored:
        s.append(f"Sleep stages were not scored ({stages.reason or 'no stage annotations'}), so total sleep time "
                 "and the indices per hour of sleep are unknown.")
    elif m.tst_min > 0:
        auto = f" (stages from automatic staging: {stages.method})" if stages.state == "automatic" else ""
        s.append(f"Total sleep time was {m.tst_min:.1f} minutes out of {m.tib_min:.1f} minutes in bed "
                 f"(sleep efficiency {m.sleep_efficiency_pct:.1f}%){auto}.")
    else:
        s.append("No sleep was scored in this recording.")
    lat = [f"sleep latency {v} minutes" if k == "sl" else f"REM latency {v} minutes"
           for k, v in (("sl", _f(m.sleep_latency_min)), ("rl", _f(m.rem_latency_min))) if v]
    if _f(m.waso_min):
        lat.append(f"wake after sleep onset {m.waso_min:.1f} minutes")
    if lat:
        s.append(lat[0][0].upper() + lat[0][1:] + "".join(f", {x}" for x in lat[1:]) + ".")
    if m.n_awakenings is not None and m.n_stage_shifts is not None:
        s.append(f"The sleep period had {m.n_awakenings} awakening{'s' if m.n_awakenings != 1 else ''} and "
                 f"{m.n_stage_shifts} stage shift{'s' if m.n_stage_shifts != 1 else ''}"
                 + (f" ({m.awakening_index_per_h:.1f} and {m.stage_shift_index_per_h:.1f} per hour of sleep)"
                    if _f(m.awakening_index_per_h) and _f(m.stage_shift_index_per_h) else "") + ".")
        if m.n_awakenings and m.n_awakenings_1min is not None:
            s.append(f"{m.n_awakenings_1min} of the awakenings lasted at least 1 minute.")
    if m.tst_min > 0:
        s.append(f"Stage distribution: N1 {m.n1_pct:.1f}%, N2 {m.n2_pct:.1f}%, N3 {m.n3_pct:.1f}%, "
                 f"REM {m.rem_pct:.1f}% of total sleep time.")
        resp = _provenance("respiratory", scoring)
        if resp.scored and _f(m.ahi_per_h):
            s.append(f"The apnea-hypopnea index was {m.ahi_per_h:.1f} events per hour "
                     f"({ahi_severity(m.ahi_per_h, m.tst_min)}{_auto_note(resp)}; obstructive + mixed apnea index {m.oai_per_h:.1f}, "
                     f"central apnea index {m.cai_per_h:.1f}, hypopnea index {m.hypopnea_index_per_h:.1f}), with "
                     f"{m.n_apneas} apneas and {m.n_hypopneas} hypopneas.")
        elif not resp.scored:
            s.append(f"Respiratory events were not scored ({resp.reason or 'no respiratory annotations'}), so the "
                     "apnea-hypopnea index is unknown.")
        rest = []
        for kind, value, what in (("desaturation", m.odi_per_h, "the oxygen desaturation index"),
                                  ("arousal", m.arousal_index_per_h, "the arousal index")):
            sc = _provenance(kind, scoring)
            if sc.scored and _f(value):
                auto = f" ({_auto_note(sc).lstrip('; ')})" if sc.state == "automatic" else ""
                rest.append(f"{what} was {value:.1f} per hour{auto}")
            elif not sc.scored:
                rest.append(f"{what} is unknown ({SCORING_KIND_NAMES[kind]} not scored)")
        if rest:
            s.append(rest[0][0].upper() + rest[0][1:] + "".join(f" and {x}" for x in rest[1:]) + ".")
    if _f(m.supine_pct):
        pos = ", ".join(f"{n} {v:.1f}%" for n, v in (("supine", m.supine_pct), ("left", m.left_pct),
                        ("right", m.right_pct), ("prone", m.prone_pct), ("upright", m.upright_pct)) if v > 0)
        txt = f"Body position during sleep: {pos}."
        if _f(m.supine_ahi_per_h):
            sup_min = m.supine_pct / 100.0 * m.tst_min
            non_min = sum(v for v in (m.left_pct, m.right_pct, m.prone_pct, m.upright_pct) if _f(v)) / 100.0 * m.tst_min

            def few(minutes: float) -> str:  # an index per hour of a position held a few minutes is noise
                return f" (from only {minutes:.1f} min)" if minutes < MIN_STAGE_FOR_INDEX_MIN else ""

            txt += f" Supine AHI {m.supine_ahi_per_h:.1f} per hour{few(sup_min)}"
            txt += (f", non-supine AHI {m.non_supine_ahi_per_h:.1f} per hour{few(non_min)}."
                    if _f(m.non_supine_ahi_per_h) else ".")
        s.append(txt)
    hr = [(STAGE_NAMES[k], v) for k, v in (("W", m.hr_w_bpm), ("N1", m.hr_n1_bpm), ("N2", m.hr_n2_bpm),
          ("N3", m.hr_n3_bpm), ("REM", m.hr_rem_bpm)) if _f(v)]
    if hr:
        s.append("Mean heart rate by stage: " + ", ".join(f"{n} {v:.1f} bpm" for n, v in hr) + ".")
    if _f(m.spo2_mean_pct):
        t90 = f"; {m.t90_min:.1f} minutes of sleep were below 90%" if _f(m.t90_min) else ""
        t90 += f" (CT90 {m.ct90_pct:.1f}% of sleep)" if t90 and _f(m.ct90_pct) else ""
        s.append(f"Mean SpO2 during sleep was {m.spo2_mean_pct:.1f}% with a minimum of {m.spo2_min_pct:.1f}%{t90}.")
    return " ".join(s)


def unscored_night_summary(scoring: Mapping[str, Scoring]) -> str:
    """The summary of a night without stages: what was not scored and why (no metrics are made up)."""
    st = scoring.get("stages") or Scoring("not scored")
    parts = [f"Sleep stages were not scored ({st.reason or 'no stage annotations'}), so no night metrics "
             "(sleep time, AHI, indices per hour) can be given."]
    done = [SCORING_KIND_NAMES[k] for k, sc in scoring.items() if k != "stages" and sc.scored]
    if done:
        parts.append(f"Scored without a hypnogram: {', '.join(done)}.")
    return " ".join(parts)


def segment_summary(row: pd.Series | dict) -> str:
    """One sentence for one row of :func:`segment_table`."""
    a, b = row["onset_s"], row["onset_s"] + row["duration_s"]
    hms = lambda t: f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}"  # noqa: E731
    s = [f"From {hms(a)} to {hms(b)}: mostly {STAGE_NAMES[row['stage']]} ({row['stage_share_pct']:.0f}%)"]
    s.append(f"{row['n_resp_events']} respiratory events, {row['n_desaturations']} desaturations, "
             f"{row['n_arousals']} arousals")
    for key, txt, unit in (("hr_mean_bpm", "mean heart rate", " bpm"), ("resp_rate_bpm", "respiratory rate",
                           " bpm"), ("spo2_min_pct", "minimum SpO2", "%")):
        if _f(row[key]):
            s.append(f"{txt} {row[key]:.1f}{unit}")
    if row["position"]:
        s.append(f"{row['position']} position")
    return "; ".join(s) + "."
