"""Words researchers use for night metrics, groupings and caption tracks, and the cohort's own names.

Shared by the tools (which accept a synonym wherever they take a metric) and the router (which
finds them in a question). Everything here is read-only data plus pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sleeplm.encoder.vocab import APNEAS, EVENT_INPUTS, EVENT_TYPES

if TYPE_CHECKING:
    from sleeplm.index.queries import Cohort

#: The model inputs of an event type (:data:`~sleeplm.encoder.vocab.EVENT_INPUTS`) in words.
INPUT_WORDS: dict[str, str] = {"AF": "airflow", "ABD": "abdominal belt", "THX": "thoracic belt",
                               "EEG_C3": "central EEG", "EEG_C4": "central EEG"}


def event_input_words(types: list[str]) -> str:
    """The inputs the event ``types`` are read from, in words ("airflow or abdominal belt or thoracic belt")."""
    return " or ".join(dict.fromkeys(INPUT_WORDS.get(c, c) for t in types for c in EVENT_INPUTS.get(t, ())))


#: Night-metric column -> phrases (regular expressions, lower case) that name it. Longer,
#: more specific phrases come first so that "rem latency" is not read as "rem".
METRIC_WORDS: dict[str, tuple[str, ...]] = {
    "supine_ahi_per_h": (r"(?<!non-)(?<!non )(?<!non)supine ahi",
                         r"\bahi (in|during|while|when)( the| a)? (supine|lying supine)( position)?",
                         r"\bahi (on|lying on|when on) (the|their|his|her) back",
                         r"\bahi (is |was )?(higher|lower|greater|worse|more|different|the same)( when| while| in)?( the)? "
                         r"(supine|lying supine)\b"),
    "non_supine_ahi_per_h": (r"non[- ]?supine ahi", r"\b(than|vs\.?|versus|compared (with|to))( when| while| in)?( the)? "
                             r"non[- ]?supine\b", r"\bahi (in|during|while|when)( the| a)? non[- ]?supine( position)?",
                             r"\bahi (off|not on) (the|their|his|her) back"),
    "supine_ratio": (r"\bsupine[- /]+(?:to[- ])?non[- ]?supine (?:ahi )?ratio\b", r"\bsupine ratio\b"),
    "ahi_nrem_per_h": (r"\b(nrem|non[- ]?rem) (sleep )?ahi\b", r"\bahi (in|during)( the)? (nrem|non[- ]?rem)( sleep)?\b"),
    "ahi_rem_per_h": (r"(?<!non-)(?<!non )\brem (sleep )?ahi\b", r"\bahi (in|during)( the)? rem( sleep)?\b"),
    "ahi_per_h": (r"\bahis?\b", r"apn(o)?ea[- ]hypopn(o)?ea index(es)?"),
    "oai_per_h": (r"\boai\b", r"obstructive apn(o)?ea index"),
    "cai_per_h": (r"\bcai\b", r"central apn(o)?ea index"),
    "apnea_index_per_h": (r"\bapn(o)?ea index\b", r"\bapn(o)?ea[- ]only index\b"),
    "hypopnea_index_per_h": (r"hypopn(o)?ea index",),
    "odi_per_h": (r"\bodi\b", r"(oxygen )?desaturation index"),
    "arousal_index_per_h": (r"arousal index",),
    "limb_movement_index_per_h": (r"(?<!periodic )limb movement index", r"(?<!periodic )leg movement index", r"\blmi\b"),
    "sleep_efficiency_pct": (r"sleep efficiency", r"\bse\b", r"efficiency"),
    "rem_latency_min": (r"rem latency", r"\bfirst (enter(ed|s)?|reach(ed|es)?|goes? into|went into) rem\b",
                        r"\brem onset\b", r"\bfirst rem (period|episode|epoch)\b"),
    "sleep_latency_min": (r"sleep latency", r"sleep onset latency", r"\bsol\b",
                          r"\b(fall|fell|falling) asleep\b"),
    "tst_min": (r"total sleep time", r"\btst\b", r"\bhow many hours (did|does|has) .*\bsle(ep|pt)\b", r"how long .*slept", r"how long did .* sleep\b", r"hours of sleep\b", r"sleep duration",
                r"\bslept (the )?(longest|most|least|shortest)\b"),
    "tib_min": (r"time in bed", r"\btib\b"),
    "waso_min": (r"\bwaso\b", r"wake after sleep onset", r"\bawake (during|in) the night\b",
                 r"\bawake after (falling asleep|sleep onset)\b"),
    "n1_pct": (r"\bn1 ?(percent(age)?|%|pct|fraction|proportion|share)", r"(percent|%|pct|proportion|share) (of )?n1\b", r"(percent(age)?|proportion|share) of sleep (was |in |spent in )?n1\b", r"(percent(age)?|proportion|share|fraction)\b.*\b(in|spent in) n1\b"),
    "n2_pct": (r"\bn2 ?(percent(age)?|%|pct|fraction|proportion|share)", r"(percent|%|pct|proportion|share) (of )?n2\b", r"(percent(age)?|proportion|share) of sleep (was |in |spent in )?n2\b", r"(percent(age)?|proportion|share|fraction)\b.*\b(in|spent in) n2\b"),
    "n3_pct": (r"\bn3 ?(percent(age)?|%|pct|fraction|proportion|share)", r"(percent|%|pct|proportion|share) (of )?n3\b", r"(percent(age)?|proportion|share) of sleep (was |in |spent in )?n3\b", r"(percent(age)?|proportion|share|fraction)\b.*\b(in|spent in) n3\b",
               r"(?<!in )(?<!during )(?<!within )(?<!in the )(?<!during the )slow[- ]wave sleep",
               r"(?<!in )(?<!during )(?<!within )(?<!in the )(?<!during the )deep sleep"),
    "rem_pct": (r"\brem ?(percent(age)?|%|pct|fraction|proportion|share)", r"(percent|%|pct|proportion|share) (of )?rem\b", r"(percent(age)?|proportion|share) of sleep (was |in |spent in )?rem\b", r"(percent(age)?|proportion|share|fraction)\b.*\b(in|spent in) rem\b"),
    "spo2_min_pct": (r"(min(imum)?|lowest|nadir) (spo2|saturation|oxygen)", r"(spo2|sp02|o2|oxygen|oxygen saturation|saturation|sat) nadir", r"nadir (of )?(the )?(spo2|o2|oxygen|saturation)",
                     r"(?<=deepest )(oxygen |spo2 )?desaturation", r"\bnadir\b"),
    "spo2_mean_pct": (r"(mean|average) (spo2|saturation|oxygen)(?! (saturation )?nadir)",),
    "supine_pct": (r"time supine", r"supine (percent|%|time)",
                   r"\b(time|percent\w*|share|fraction|proportion|how long|how much)\b.*\b(supine|on (his|her|their|its|the) "
                   r"back)\b(?! ahi)"),
    "n_awakenings_1min": ((r"\bawakenings? (?:of|lasting|longer than|over|more than|above|exceeding)(?: at least| over| "
                           r"more than)? (?:1|one|a) ?min(?:ute)?s?\b"), r"\bawakenings? (?:≥|>=|>) ?1 ?min",
                          r"\b(?:1|one)[- ]min(?:ute)?s?(?: or longer| or more)? awakenings?\b",
                          r"\b(?:wake|waking) (?:bouts?|episodes?) (?:of|lasting) (?:at least )?(?:1|one|a) ?min"),
    "awakening_index_per_h": (r"\bawakenings? index\b", r"\bawakenings? per hour\b",
                              r"\bawakenings? (?:rate|/ ?h(?:ou)?r?)\b",
                              r"\bhow many times (?:an|per|each|every) hour\b.*\b(?:wake|woke|waking)(?: up)?\b",
                              r"\b(?:wake|woke|waking|wakes) up (?:\w+ )?times (?:an|per|each|every) hour\b"),
    "n_awakenings": (r"\bawakenings?\b", r"\bwo?ke up (the )?(most|least)\b", r"\bwak(e|es|ing) up (the )?(most|least)\b",
                     r"\bwake (bouts?|episodes?)\b", r"\b(episodes?|bouts?) of (wake|wakefulness)\b", r"\bhow many times did .*\b(wake|woke)( up)?\b", r"\bnumber of times .*\b(wake|woke)( up)?\b",
                     r"\btimes? (\w+ )?(woke|wakes?|waking) up\b"),
    "stage_shift_index_per_h": (r"\bstage[- ](?:shift|transition|change)s? (?:index|rate)\b",
                                r"\bstage (?:shifts?|transitions?|changes?) per hour\b"),
    "n_stage_shifts": (r"\b(sleep )?stage (shifts?|transitions?|changes?)\b", r"\b(shifts?|transitions?|changes?) (between|of) (sleep )?stages?\b"),
    "ct90_pct": (r"\bct ?90\b",),
    "t90_min": (r"\bt90\b",),
    "n_apneas": (r"number of apn(o)?eas",),
    "n_hypopneas": (r"number of hypopn(o)?eas",),
    "n_arousals": (r"number of arousals",),
}

for _col, _stage in (("n1_pct", "n1"), ("n2_pct", "n2"), ("n3_pct", "n3"), ("rem_pct", "rem")):
    # "what percent of the night was REM": answered as the share of sleep (labelled "% of TST")
    METRIC_WORDS[_col] += (rf"(percent(age)?|%|pct|proportion|share|fraction) of (the )?(night|recording|sleep time|tst) "
                           rf"(was |were |is |in |spent in )?{_stage}\b",)

#: The model's channels (:data:`~sleeplm.encoder.vocab.SLEEPLM_CHANNELS`) -> phrases that name one in a question.
CHANNEL_WORDS: dict[str, str] = {
    "AF": r"airflow|air flow|\baf\b|nasal (?:pressure|flow|cannula)|oro-?nasal (?:flow|thermistor)|thermistor",
    "ABD": r"abdominal(?: belt| effort)?|abdomen belt",
    "THX": r"thoracic(?: belt| effort)?|chest (?:belt|effort)",
    "ECG": r"\becg\b|\bekg\b|electrocardiogram",
    "EMG_CHIN": r"chin emg|\bemg\b",
    "POS": r"(?:body )?position(?: sensor| channel)",
    "EEG_C3": r"\bc3\b(?:-a2|-m2)?",
    "EEG_C4": r"\bc4\b(?:-a1|-m1)?",
    "EOG_L": r"left eog|\be1\b|\bloc\b",
    "EOG_R": r"right eog|\be2\b|\broc\b",
}

#: What each metric is called in answers, with its unit.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "ahi_per_h": ("AHI", "events/h"), "oai_per_h": ("obstructive + mixed apnea index", "events/h"),
    "cai_per_h": ("central apnea index", "events/h"),
    "apnea_index_per_h": ("apnea index (obstructive + central + mixed)", "events/h"), "hypopnea_index_per_h": ("hypopnea index", "events/h"),
    "odi_per_h": ("ODI", "events/h"), "arousal_index_per_h": ("arousal index", "events/h"),
    "limb_movement_index_per_h": ("limb movement index", "events/h"),
    "supine_ahi_per_h": ("supine AHI", "events/h"), "non_supine_ahi_per_h": ("non-supine AHI", "events/h"),
    "sleep_efficiency_pct": ("sleep efficiency", "%"), "tst_min": ("total sleep time", "min"),
    "tib_min": ("time in bed", "min"), "waso_min": ("WASO", "min"), "sleep_latency_min": ("sleep latency", "min"),
    "rem_latency_min": ("REM latency", "min"), "n1_pct": ("N1", "% of TST"), "n2_pct": ("N2", "% of TST"),
    "n3_pct": ("N3", "% of TST"), "rem_pct": ("REM", "% of TST"), "spo2_min_pct": ("SpO2 nadir in sleep", "%"),
    "spo2_mean_pct": ("mean SpO2 in sleep", "%"), "supine_pct": ("time supine", "% of TST"),
    "n_apneas": ("apneas", ""), "n_hypopneas": ("hypopneas", ""), "n_arousals": ("arousals", ""),
    "n_desaturations": ("desaturations", ""),
    "n_awakenings": ("awakenings (W bouts in the sleep period)", ""),
    "n_awakenings_1min": ("awakenings of at least 1 min (in the sleep period)", ""),
    "awakening_index_per_h": ("awakening index", "awakenings/h of sleep"),
    "n_stage_shifts": ("stage shifts (in the sleep period)", ""),
    "stage_shift_index_per_h": ("stage shift index", "shifts/h of sleep"),
    "ct90_pct": ("CT90 (sleep time with SpO2 below 90 %)", "% of sleep"),
    "t90_min": ("T90 (sleep time with SpO2 below 90 %)", "min"), "ahi_rem_per_h": ("REM AHI", "events/h"),
    "ahi_nrem_per_h": ("NREM AHI", "events/h"),
    "hr_sleep_bpm": ("heart rate in sleep (mean over N1, N2, N3 and REM epochs)", "bpm"), "hr_w_bpm": ("heart rate in wake", "bpm"), "hr_n1_bpm": ("heart rate in N1", "bpm"),
    "hr_n2_bpm": ("heart rate in N2", "bpm"), "hr_n3_bpm": ("heart rate in N3", "bpm"),
    "hr_rem_bpm": ("heart rate in REM", "bpm"), "left_pct": ("time on the left side", "% of TST"),
    "right_pct": ("time on the right side", "% of TST"), "prone_pct": ("time prone", "% of TST"),
    "upright_pct": ("time upright", "% of TST"),
    "supine_ratio": ("supine / non-supine AHI ratio", "×"),
}

#: Which way is better for a measure, for "worst" and "best": +1 higher is better (more sleep, more oxygen),
#: -1 lower is better (events per hour, latencies, wake, light sleep). Measures without a clinical direction
#: (heart rate, time in a position, BMI, age) are absent: "the worst heart rate" is declined, not guessed.
BETTER_DIRECTION: dict[str, int] = {
    **dict.fromkeys(("sleep_efficiency_pct", "tst_min", "n3_pct", "rem_pct", "spo2_min_pct", "spo2_mean_pct"), 1),
    **dict.fromkeys(("ahi_per_h", "oai_per_h", "cai_per_h", "apnea_index_per_h", "hypopnea_index_per_h", "odi_per_h",
                     "arousal_index_per_h", "limb_movement_index_per_h", "supine_ahi_per_h", "non_supine_ahi_per_h",
                     "sleep_latency_min", "rem_latency_min", "waso_min", "n1_pct", "n_apneas", "n_hypopneas",
                     "n_arousals", "n_desaturations", "n_awakenings", "n_stage_shifts", "t90_min", "ahi_rem_per_h",
                     "ahi_nrem_per_h", "n_awakenings_1min", "awakening_index_per_h", "stage_shift_index_per_h",
                     "ct90_pct"), -1),
}

#: The grades of a severity range ("mild to severe"), in order.
SEVERITY_ORDER: dict[str, int] = {"mild": 0, "moderate": 1, "severe": 2}

#: AASM severity of sleep apnea by AHI (events/h): (lowest AHI included, highest AHI excluded or None).
AHI_SEVERITY: dict[str, tuple[float, float | None]] = {"mild": (5.0, 15.0), "moderate": (15.0, 30.0),
                                                       "severe": (30.0, None)}

#: Night metrics that need a kind of event scoring (the others need stages only).
METRIC_SCORING_KIND: dict[str, str] = {
    **dict.fromkeys(("ahi_per_h", "oai_per_h", "cai_per_h", "apnea_index_per_h", "hypopnea_index_per_h",
                     "supine_ahi_per_h", "non_supine_ahi_per_h", "n_apneas", "n_hypopneas", "ahi_rem_per_h", "ahi_nrem_per_h"),
                    "respiratory"),
    **dict.fromkeys(("odi_per_h", "n_desaturations"), "desaturation"),
    **dict.fromkeys(("arousal_index_per_h", "n_arousals"), "arousal"),
    "limb_movement_index_per_h": "limb_movement",
}

#: A question about who scored the nights ("which nights were scored automatically?", "how many nights have
#: unscored arousals?"): answered by the cohort's scoring table, not by a count of events.
#: A scoring question about a named night that the scoring table answers ("who scored sim-0005?", "how were its
#: hypopneas scored?", "how was the AHI of sim-0002 computed?").
SCORING_OF_NIGHT = (r"\bwho (scored|staged|annotated)\b|\b(scored|staged|annotated) (automatically|by)\b"
                    r"|\bhow (were|was|are|is)\b.*\bscored\b|\b(comput|calculat)\w*|\brule\b|\bcriteri")
SCORING_QUESTION = (r"\b(scored|staged|annotated) (automatically|by (a |the )?(person|human|hand|technician|technologist|"
                    r"scorer|program|algorithm|computer|machine))\b|\b(automatic|manual|human) (scoring|staging)\b"
                    r"|\b(unscored|unstaged|not scored|not staged|without (scoring|annotations?))\b|\bwho scored\b"
                    r"|\b(no|without( an?)?|missing( an?)?|lack( an?)?|lacking( an?)?) (hypnograms?|sleep stag\w*|"
                    r"stag(es|ing)|annotations?|annotation files?|(event |respiratory |arousal )?scoring)\b"
                    # "how was the AHI computed, which hypopnea rule?": the scoring each night rests on
                    r"|\bhow (is|was|are|were)\b.*\b(ahi|odi|ahis|indices|index)\b.*\b(comput|calculat|defin|deriv)\w*"
                    r"|\bhypopnea (rule|criteri\w*|definition)s?\b|\b[34] ?% (rule|criteri\w*)\b"
                    r"|\bhow (were|was|are|is) (its |the |their )?(hypopn\w*|apn\w*|arousals?|events|stages?) scored\b")

#: Named groups of event types a count may ask for ("how many apneas": every kind of apnea; "any": every event).
EVENT_GROUPS: dict[str, tuple[str, ...]] = {"apnea": APNEAS, "any": EVENT_TYPES}

#: The metrics shown when a night is described or compared.
KEY_METRICS: tuple[str, ...] = ("tst_min", "sleep_efficiency_pct", "sleep_latency_min", "waso_min", "n1_pct",
                                "n2_pct", "n3_pct", "rem_pct", "ahi_per_h", "odi_per_h", "arousal_index_per_h",
                                "spo2_min_pct")

#: Grouping attributes (those of :mod:`sleeplm.index.stats`) and the words that ask for them.
GROUP_WORDS: dict[str, tuple[str, ...]] = {
    "phenotype": (r"phenotype", r"diagnos", r"condition", r"(?<!age )group"),
    "sex": (r"\bsex\b", r"gender", r"\bmen\b.*\bwomen\b", r"male.*female"),
    "site": (r"\bsites?\b", r"\bcent(er|re)s?\b", r"\bclinics?\b"),
    "age_band": (r"\bage\b", r"age band", r"age group"),
    "stage": (r"\bstages?\b",),
    "recording": (r"\bnights?\b", r"\brecordings?\b"),
}

#: Caption tracks and the words that name them.
TRACK_WORDS: dict[str, tuple[str, ...]] = {
    "stage_event": (r"stage[_ ]event", r"\bstaging\b"),
    "brain": (r"\bbrain\b", r"\beeg\b", r"\beog\b"),
    "cardiac": (r"\bcardiac\b", r"\bheart\b", r"\becg\b", r"\bekg\b"),
    "respiratory": (r"\brespirat", r"\bbreathing\b", r"\bairflow\b"),
    "somatic": (r"\bsomatic\b", r"\bmuscle\b", r"\bemg\b", r"\bposition\b"),
}

SEX_WORDS: dict[str, tuple[str, ...]] = {
    "F": (r"\bwomen\b", r"\bfemales?\b", r"\bwoman\b"),
    "M": (r"(?<!wo)\bmen\b", r"(?<!fe)\bmales?\b", r"(?<!wo)\bman\b"),
}


def _find(table: dict[str, tuple[str, ...]], text: str) -> list[str]:
    t = text.lower()
    hits = []
    for key, patterns in table.items():
        if any(re.search(p, t) for p in patterns):
            hits.append(key)
    return hits


def find_metrics(text: str) -> list[str]:
    """Night-metric columns a text names, in the order they appear.

    The longest matching phrase claims its words first and a claimed span is not matched again, so
    "supine AHI" names only ``supine_ahi_per_h`` and "oxygen desaturation index" only the ODI.

    Examples
    --------
    >>> find_metrics("what is the AHI and sleep efficiency?")
    ['ahi_per_h', 'sleep_efficiency_pct']
    """
    t = text.lower()
    taken = [False] * len(t)
    found: list[tuple[int, str]] = []
    matches = [(m.end() - m.start(), m.start(), m.end(), key) for key, patterns in METRIC_WORDS.items()
               for pattern in patterns for m in re.finditer(pattern, t)]
    for _, start, end, key in sorted(matches, key=lambda x: (-x[0], x[1])):  # longest phrase first
        if any(taken[start:end]):
            continue
        taken[start:end] = [True] * (end - start)
        if key not in [k for _, k in found]:
            found.append((start, key))
    return [k for _, k in sorted(found)]


def find_groups(text: str) -> list[str]:
    """Grouping attributes asked for with "by X", "per X", "across X" or "between X"."""
    t = text.lower()
    out = []
    for m in re.finditer(r"\b(by|per|across|between|among|for each|in each|of each)\s+(the\s+|each\s+)?([a-z ]{2,20})", t):
        out += [g for g in _find(GROUP_WORDS, m.group(3)) if g not in out]
    return out


def find_tracks(text: str) -> list[str]:
    return _find(TRACK_WORDS, text)


def find_sexes(text: str) -> list[str]:
    return _find(SEX_WORDS, text)


def resolve_metric(name: str, available: list[str]) -> str:
    """A metric column from its column name or a synonym ("AHI" -> ``ahi_per_h``).

    Raises
    ------
    ValueError
        Naming the metric and the available ones.
    """
    if name in available:
        return name
    key = name.strip().lower().replace("-", " ")
    if key.replace(" ", "_") in available:
        return key.replace(" ", "_")
    found = [m for m in find_metrics(key) if m in available]
    if found:
        return found[0]
    raise ValueError(f"unknown night metric {name!r}; available: {', '.join(available)}")


def metric_label(column: str) -> str:
    """"AHI (events/h)" for ``ahi_per_h``; the column name itself when unknown."""
    label, unit = METRIC_LABELS.get(column, (column, ""))
    return f"{label} ({unit})" if unit else label


@dataclass
class CohortNames:
    """The names a cohort uses: recordings, subjects (-> their recordings) and attribute values."""

    recordings: list[str] = field(default_factory=list)
    subjects: dict[str, list[str]] = field(default_factory=dict)
    phenotypes: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)

    @classmethod
    def from_cohort(cls, cohort: Cohort) -> CohortNames:
        rows = cohort.recording_subjects()
        subjects: dict[str, list[str]] = {}
        for name, sid in rows:
            if sid:
                subjects.setdefault(str(sid), []).append(name)
        return cls([r[0] for r in rows], subjects, cohort.subject_values("phenotype"), cohort.subject_values("site"))

    def known(self) -> list[str]:
        """Every recording name and subject id (words a spelling correction must leave as they are)."""
        return [*self.recordings, *self.subjects]

    def find_phenotypes(self, text: str) -> list[str]:
        """Phenotype values named in a text ("osa_severe", "osa severe", "severe osa", "insomnia")."""
        t = text.lower().replace("_", " ").replace("-", " ")
        out = []
        for p in self.phenotypes:
            words = p.lower().replace("_", " ").split()
            if " ".join(words) in t or (len(words) == 2 and f"{words[1]} {words[0]}" in t) or len(words) == 2 and re.search(  # "moderate or severe osa": osa_moderate too
                    rf"\b{re.escape(words[1])}(\s*(,|/|or|and|to|through)\s*\w+)+\s+{re.escape(words[0])}\b", t):
                out.append(p)
        # "mild to severe OSA": every grade of the range, the ones between its ends too
        for lo, hi, noun in re.findall(r"\b(mild|moderate|severe)\s+(?:to|through)\s+(mild|moderate|severe)\s+(\w+)", t):
            grades = list(SEVERITY_ORDER)[SEVERITY_ORDER[lo]:SEVERITY_ORDER[hi] + 1]
            out += [p for p in self.phenotypes if p not in out and p.lower().replace("_", " ") in
                    {f"{noun} {g}" for g in grades} | {f"{g} {noun}" for g in grades}]
        return out

    def find_sites(self, text: str) -> list[str]:
        t = text.lower()
        return [s for s in self.sites if re.search(rf"\b{re.escape(s.lower())}\b", t)]


def blank_numbered_metric_phrases(t: str, keep: str | None = None) -> str:
    """The text with each metric phrase that holds a number blanked out (but those of ``keep``), positions kept: the 1
    of "awakenings of at least 1 minute" names the measure, it is not a threshold on the awakenings."""
    for key, patterns in METRIC_WORDS.items():
        if key == keep:
            continue
        for rx in patterns:
            t = re.sub(rx, lambda m: " " * len(m.group(0)) if re.search(r"\d", m.group(0)) else m.group(0), t)
    return t


def without_metric_phrases(t: str) -> str:
    """The text without the metric phrases it contains ("total sleep time" holds no "total")."""
    for patterns in METRIC_WORDS.values():
        for rx in patterns:
            t = re.sub(rx, " ", t)
    return t
