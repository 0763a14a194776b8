"""A question bank with gold answers computed from a simulated cohort's own files.

Gold answers come from ``subjects.csv`` and the simulator's per-epoch truth files (``*.truth.npz``: the
stage of every epoch and every scored event, the same content as the NSRR XML the workspace was built
from), with plain pandas and the AASM definitions written out here, never from the agent's code path.

Each :class:`Item` is a conversation (earlier turns set up follow-ups) whose last answer is checked:
``right`` when the check passes, ``declined`` when the agent said it cannot answer (a pass only for
items that must be declined), ``wrong`` otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

SLEEP = ("N1", "N2", "N3", "REM")
RESP = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea")
DECLINE = re.compile(r"I can't answer that|I did not understand")


@dataclass
class Turn:
    answer: str
    figures: int = 0
    tools: list[str] = field(default_factory=list)


@dataclass
class Item:
    """One bank entry: the turns to send and a check of the last answer."""

    kind: str
    turns: list[str]
    check: Callable[[Turn], bool] | None  # None: the question must be declined

    @property
    def question(self) -> str:
        return " → ".join(self.turns)


class Gold:
    """Per-night facts from the cohort's files."""

    def __init__(self, folder: Path):
        self.subjects = pd.read_csv(folder / "subjects.csv")
        rows, events = [], []
        self.stages: dict[str, np.ndarray] = {}
        self.heart_rate: dict[str, np.ndarray] = {}
        self.start_s: dict[str, float] = {}  # seconds after the evening's midnight (XML ClockTime)
        self.supine_epochs: dict[str, np.ndarray] = {}  # per epoch: spent supine (the simulator's position)
        for p in sorted(folder.glob("*.truth.npz")):
            z = np.load(p, allow_pickle=True)
            rec = str(z["recording"])
            stage = np.asarray(z["stage"]).astype(str)
            self.stages[rec] = stage
            self.heart_rate[rec] = np.asarray(z["heart_rate_bpm"], float)
            clock = re.search(r"<ClockTime>\S+ (\d+)\.(\d+)\.(\d+)</ClockTime>",
                              (folder / f"{rec}-nsrr.xml").read_text())
            self.start_s[rec] = _evening_s(int(clock[1]), int(clock[2])) + int(clock[3])
            epoch_s = float(z["epoch_s"])
            ev = pd.DataFrame({"recording": rec, "type": np.asarray(z["event_type"]).astype(str),
                               "onset_s": np.asarray(z["event_onset_s"], float),
                               "duration_s": np.asarray(z["event_duration_s"], float)})
            k = np.floor(ev["onset_s"] / epoch_s).astype(int).clip(0, len(stage) - 1)
            ev["stage"] = stage[k]
            ev["supine"] = np.asarray(z["position_code"])[k] == 2  # SleepLM code 2: the epoch spent supine
            events.append(ev)
            self.supine_epochs[rec] = np.asarray(z["position_code"]) == 2
            sleep = np.isin(stage, SLEEP)
            tst = sleep.sum() * epoch_s / 60
            in_sleep = ev[ev["stage"].isin(SLEEP)]
            hr = np.asarray(z["heart_rate_bpm"], float)
            hours = tst / 60 if tst else np.nan  # no sleep: per-hour indices undefined
            row = {"recording": rec, "tst_min": tst, "tib_min": len(stage) * epoch_s / 60,
                   "ahi": in_sleep["type"].isin(RESP).sum() / hours,
                   "odi": (in_sleep["type"] == "oxygen_desaturation").sum() / hours,
                   "arousal_index": (in_sleep["type"] == "arousal").sum() / hours,
                   "missing": list(np.asarray(z["missing_channels"]).astype(str))}
            row["efficiency"] = 100 * tst / row["tib_min"]
            for s in ("W", *SLEEP):
                row[f"{s}_min"] = (stage == s).sum() * epoch_s / 60
                row[f"hr_{s}"] = float(hr[stage == s].mean()) if (stage == s).any() else np.nan
            for s in SLEEP:
                row[f"{s}_pct"] = 100 * (stage == s).sum() / sleep.sum() if sleep.any() else np.nan
            rows.append(row)
        self.nights = pd.DataFrame(rows).merge(self.subjects, on="recording").set_index("recording", drop=False)
        self.events = pd.concat(events, ignore_index=True)

    # --- parts of the night (AASM rules written out: an event belongs to the epoch it starts in)
    def window(self, rec: str, kind: str, arg: object = None) -> np.ndarray:
        """Boolean mask over the night's epochs: ``half`` (arg "first"/"second": 2k < n / 2k ≥ n),
        ``first_h`` / ``last_h`` (arg hours of the recording), ``onset_h`` (arg hours from the first sleep
        epoch), ``clock`` (arg ("HH:MM" or None, "HH:MM" or None); morning hours are after midnight)."""
        n = len(self.stages[rec])
        k = np.arange(n)
        if kind == "half":
            return 2 * k < n if arg == "first" else 2 * k >= n
        if kind == "first_h":
            return 30 * k < float(arg) * 3600
        if kind == "last_h":
            return 30 * k >= 30 * n - float(arg) * 3600
        if kind == "onset_h":
            if not np.isin(self.stages[rec], SLEEP).any():
                return np.zeros(n, bool)
            k0 = int(np.flatnonzero(np.isin(self.stages[rec], SLEEP))[0])
            return (k >= k0) & (30 * (k - k0) < float(arg) * 3600)
        a, b = arg
        t = self.start_s[rec] + 30 * k
        lo = _evening_s(*map(int, a.split(":"))) if a else -np.inf
        hi = _evening_s(*map(int, b.split(":"))) if b else np.inf
        return (t >= lo) & (t < hi)

    def _in(self, rec: str, mask: np.ndarray, types: tuple[str, ...], stages: tuple[str, ...] | None) -> int:
        e = self.events[(self.events["recording"] == rec) & self.events["type"].isin(types)]
        k = np.floor(e["onset_s"].to_numpy() / 30).astype(int)
        keep = mask[k] & (np.isin(self.stages[rec][k], stages) if stages else True)
        return int(np.sum(keep))

    def ahi_in(self, rec: str, mask: np.ndarray, types: tuple[str, ...] = RESP) -> float:
        sleep_h = (mask & np.isin(self.stages[rec], SLEEP)).sum() * 30 / 3600
        return self._in(rec, mask, types, SLEEP) / sleep_h if sleep_h else np.nan

    def count_in(self, rec: str, mask: np.ndarray, types: tuple[str, ...]) -> float:
        """Events of these types starting in the window (NaN when the window misses the night)."""
        return float(self._in(rec, mask, types, None)) if mask.any() else np.nan

    def hr_in(self, rec: str, mask: np.ndarray, stage: str | None = None) -> float:
        sel = mask & (self.stages[rec] == stage) if stage else mask
        return float(self.heart_rate[rec][sel].mean()) if sel.any() else np.nan

    def waso_in(self, rec: str, mask: np.ndarray) -> float:
        sleep = np.isin(self.stages[rec], SLEEP)
        if not sleep.any():
            return np.nan
        after = np.arange(len(sleep)) >= np.flatnonzero(sleep)[0]
        return (mask & after & ~sleep).sum() * 30 / 60

    def minutes_in(self, rec: str, mask: np.ndarray, stages: tuple[str, ...]) -> float:
        return (mask & np.isin(self.stages[rec], stages)).sum() * 30 / 60 if mask.any() else np.nan

    def count(self, rec: str, kind: str, stage: str | None = None) -> int:
        e = self.events[(self.events["recording"] == rec) & (self.events["type"] == kind)]
        return len(e if stage is None else e[e["stage"] == stage])


def _evening_s(h: int, m: int) -> int:
    """Seconds after the evening's midnight of a clock time; hours before noon are the next morning."""
    return (h + (24 if h < 12 else 0)) * 3600 + m * 60


def f1(x: float) -> str:
    return f"{x:.1f}"


def has(*texts: str) -> Callable[[Turn], bool]:
    return lambda t: all(x in t.answer for x in texts)


def value_is(x: float) -> Callable[[Turn], bool]:
    """The value shown with one decimal, or "not available" when the files leave it undefined (no sleep)."""
    return has("not available") if not np.isfinite(x) else shown(x)


def shown(x: float) -> Callable[[Turn], bool]:
    """The answer states the value as "**label: x**" (one decimal; a whole number, such as a count, may be shown
    without one: "**hypopneas: 41**")."""
    if float(x).is_integer():
        return lambda t: f": {f1(x)}**" in t.answer or f": {int(x)}**" in t.answer
    return has(f": {f1(x)}**")


def names_in(answer: str) -> set[str]:
    """The nights an answer gives (a paragraph naming the nights a condition could not be checked in is not one)."""
    given = "\n\n".join(p for p in answer.split("\n\n") if not p.startswith("Left out, since"))
    return set(re.findall(r"sim-\d{4}", given))


def exactly_nights(expected: set[str], prefix: str | None = None) -> Callable[[Turn], bool]:
    def check(t: Turn) -> bool:
        ok = names_in(t.answer) == expected or (not expected and "No night" in t.answer)
        return ok and (prefix is None or prefix in t.answer)
    return check


METRICS = {  # gold column -> (phrasings, digits shown)
    "ahi": ("AHI", "apnea-hypopnea index", "ahi"),
    "efficiency": ("sleep efficiency", "sleep efficency", "efficiency"),
    "tst_min": ("total sleep time", "TST", "total sleep tme"),
    "odi": ("ODI", "oxygen desaturation index", "odi"),
    "REM_pct": ("REM percentage", "percent of REM", "rem %"),
    "arousal_index": ("arousal index", "arousal index", "arousal indx"),
}


def build(gold: Gold, rem_everywhere: bool = True) -> list[Item]:
    """The bank for a cohort (``rem_everywhere`` False: the REM questions must be declined)."""
    n = gold.nights
    recs = list(n.index)
    items: list[Item] = []
    add = items.append

    # --- values of one night (phrasings, subject ids, typos)
    for rec in recs:
        sid = n.at[rec, "subject_id"]
        for col, (a, b, c) in METRICS.items():
            v = n.at[rec, col]
            add(Item("value", [f"what is the {a} of {rec}?"], value_is(v)))
            add(Item("value", [f"{b} for {sid}", ], value_is(v)))
        add(Item("value", [f"what was the {METRICS['ahi'][2]} of {rec.upper()}"], value_is(n.at[rec, "ahi"])))
        for kind in ("hypopnea", "arousal", "obstructive_apnea"):
            word = kind.replace("_", " ")
            add(Item("event count", [f"how many {word}s are there in {rec}?"], shown(gold.count(rec, kind))))
        stage_phrase = "REM" if rem_everywhere else "N2"
        add(Item("event count by stage", [f"how many arousals during {stage_phrase} in {rec}?"],
                 shown(gold.count(rec, 'arousal', stage_phrase))))
        add(Item("stage minutes", [f"how much N3 did {rec} have?"], shown(n.at[rec, "N3_min"])))
        resp = sum(gold.count(rec, k, stage_phrase) for k in RESP)
        stage_h = n.at[rec, f"{stage_phrase}_min"] / 60
        add(Item("per-stage index", [f"what is the AHI during {stage_phrase} in {rec}?"],
                 value_is(resp / stage_h if stage_h else np.nan)))
        if rem_everywhere:
            add(Item("stage minutes", [f"minutes of REM in {rec}"], shown(n.at[rec, "REM_min"])))
        add(Item("attribute", [f"how old is the subject of {rec}?"], shown(n.at[rec, "age"])))

    # --- cohort aggregates
    for col, (a, b, c) in METRICS.items():
        add(Item("aggregate", [f"what is the average {a} across the cohort?"], shown(n[col].mean())))
        add(Item("aggregate", [f"median {b}"], shown(n[col].median())))
        add(Item("aggregate", [f"avrage {c} of all nights"], shown(n[col].mean())))
    for stage in ("N2", "N3", "W"):
        word = {"W": "wake"}.get(stage, stage)
        gold_hr = n[f"hr_{stage}"].mean()
        add(Item("per-stage HR", [f"What is the average heart rate during {word} across the cohort?"],
                 near(gold_hr, 4.0)))
    if rem_everywhere:
        add(Item("per-stage HR", ["What is the average heart rate during REM across the cohort?"],
                 near(n["hr_REM"].mean(), 4.0)))
    else:
        add(Item("per-stage HR (no REM)", ["What is the average heart rate during REM across the cohort?"], None))
        add(Item("REM latency (no REM)", ["what is the mean REM latency?"], None))
    for kind in ("hypopnea", "arousal", "oxygen_desaturation"):
        total = sum(gold.count(r, kind) for r in recs)
        add(Item("aggregate", [f"total number of {kind.replace('_', ' ')}s in the cohort"], shown(total)))

    # --- arg-max / arg-min / rankings
    for col, (a, b, c) in METRICS.items():
        hi, lo = n[col].idxmax(), n[col].idxmin()
        add(Item("argmax", [f"Which night has the highest {a}?"], has(f"**{hi}** has the highest")))
        add(Item("argmin", [f"which recording has the lowest {b}"], has(f"**{lo}** has the lowest")))
        add(Item("rank", [f"rank the nights by {a}"],
                 ranked_as(list(n[col].dropna().sort_values(ascending=False).index))))
    add(Item("argmax typo", ["whcih night has the higest AHI"], has(f"**{n['ahi'].idxmax()}** has the highest")))
    add(Item("argmax", ["who has the most arousals?"],
             has(f"**{max(recs, key=lambda r: gold.count(r, 'arousal'))}** has the most")))
    old = n["age"].idxmax()
    young = n["age"].idxmin()
    for q, who in (("what is the oldest subject's AHI?", old), ("AHI of the youngest subject", young)):
        ahi = n.at[who, "ahi"]
        add(Item("two-step", [q], has(f"**{who}**", f"Its AHI (events/h): **{f1(ahi)}**" if np.isfinite(ahi)
                                      else "Its AHI (events/h): **not available**")))
    top = n["ahi"].idxmax()
    add(Item("multi-step", ["Which night has the highest AHI? Show me its hypnogram."],
             lambda t: f"**{top}** has the highest" in t.answer and t.figures == 1 and f"**{top}** — subject" in t.answer))
    add(Item("follow-up", ["which night has the lowest sleep efficiency?", "show me its hypnogram"],
             described_with_hypnogram(n["efficiency"].idxmin())))
    add(Item("top k", ["top 2 nights by AHI"],
             ranked_as(list(n["ahi"].dropna().sort_values(ascending=False).index[:2]))))

    # --- counts and lists with filters
    women = set(n.index[n["sex"] == "F"])
    men = set(n.index[n["sex"] == "M"])
    add(Item("count", ["how many women are there?"], has(f"**{len(women)} night(s)**")))
    add(Item("count", ["How many male subjects are in the cohort?"], has(f"**{len(men)} night(s)**")))
    for thr in (5, 15, 30):
        above = set(n.index[n["ahi"] > thr])
        add(Item("count", [f"how many nights have an AHI above {thr}?"], has(f"**{len(above)} night(s)**")))
        add(Item("list", [f"which nights have an AHI above {thr}?"], exactly_nights(above)))
    add(Item("count+list", ["how many nights have an AHI above 15 and what are their phenotypes?"],
             lambda t, s=set(n.index[n["ahi"] > 15]): has(f"**{len(s)} night(s)**")(t)
             and all(n.at[r, "phenotype"] in t.answer for r in s)))
    add(Item("count+list", ["How many nights are in the cohort, and what are their phenotypes?"],
             lambda t: has(f"**{len(n)} night(s)**")(t) and all(f"{p}: " in t.answer for p in n["phenotype"])))
    for age in (40, 50):
        add(Item("list", [f"which subjects are older than {age}?"], exactly_nights(set(n.index[n["age"] > age]))))
    add(Item("list", ["list the nights of women"], exactly_nights(women)))
    add(Item("list", ["which nights have sleep efficiency below 80?"],
             exactly_nights(set(n.index[n["efficiency"] < 80]))))
    missing = {r for r in recs if n.at[r, "missing"]}
    add(Item("channels", ["Which nights have a missing channel?"], exactly_nights(missing)))
    add(Item("channels", ["are there recordings with channels missing?"], exactly_nights(missing)))

    # --- group comparisons
    for col, (a, b, c) in list(METRICS.items())[:4]:
        for q in (f"Is {a} lower in women than in men?", f"compare {b} between men and women",
                  f"{a} by sex"):
            add(Item("compare", [q], _compare_check(n, col, "sex")))
        add(Item("compare", [f"compare {a} by phenotype"], _compare_check(n, col, "phenotype")))
        add(Item("compare", [f"does {a} differ by site?"], _compare_check(n, col, "site")))
    # --- trends
    for col, (a, b, c) in list(METRICS.items())[:4]:
        add(Item("trend", [f"does {a} increase with age?"], _trend_check(n, col)))

    # --- search, localization, similarity (checked against the annotations)
    add(Item("search", ["Find epochs that look like central apnea during N2 sleep"],
             lambda t: _hits_in_stage(t.answer, gold, "N2")))
    add(Item("search", ["find epochs like obstructive apnea in REM"] if rem_everywhere else
             ["find epochs like obstructive apnea in N3"], lambda t: "Top " in t.answer and "phenotype" not in t.answer))
    for rec in recs[:2]:
        add(Item("localize", [f"where are the hypopneas in {rec}?"],
                 has(f"Annotated hypopnea in this night ({gold.count(rec, 'hypopnea')})")
                 if gold.count(rec, "hypopnea") else has("This night has no annotated hypopnea")))
        add(Item("similar", [f"find nights like {rec}"], has(f"Nights most like **{rec}**")))
        add(Item("similar follow-up", [f"describe {rec}", "find epochs like arousal", "find nights like this one"],
                 has(f"Nights most like **{rec}**")))

    # --- follow-ups
    a, b = recs[0], recs[1]
    add(Item("follow-up", [f"describe {a}", "and its AHI?"], value_is(n.at[a, "ahi"])))
    add(Item("follow-up", [f"what is the AHI of {a}?", f"what about {b}?"], value_is(n.at[b, "ahi"])))
    add(Item("follow-up", [f"describe {b}", "what is the sleep efficiency of this night?"],
             value_is(n.at[b, "efficiency"])))

    # --- phrasings found by fresh questions on the demo cohort (proportions, ranges, BMI, groups of phenotypes)
    k15 = int((n["ahi"] >= 15).sum())
    add(Item("count share", ["What proportion of the cohort has an AHI of at least 15?"],
             has(f"**{k15} night(s)**", f"{k15} of the cohort's {len(n)} nights")))
    add(Item("list range", ["Which recordings have an AHI between 5 and 15?"],
             exactly_nights(set(n.index[(n["ahi"] >= 5) & (n["ahi"] <= 15)]))))
    rho_bmi = n[["bmi", "ahi"]].corr(method="spearman").iloc[0, 1]
    add(Item("trend bmi", ["Is there a correlation between BMI and AHI?"],
             has(f"Spearman rho = {rho_bmi:.2f}", "against bmi")))
    add(Item("aggregate sum", ["How many arousals occurred during N2 across all nights?"],
             shown(sum(gold.count(r, "arousal", "N2") for r in recs))))
    osa = n[n["phenotype"].str.startswith("osa")]["odi"]
    add(Item("phenotype group", ["What is the median ODI among the OSA patients?"],
             shown(osa.median()) if len(osa) else None))

    # --- parts of the night (time-of-night windows), gold from the truth files and the XML's start time
    add_windows(gold, items)

    # --- phrasings first asked on the demo cohort (each was once answered wrongly)
    add_fresh_phrasings(gold, items, rem_everywhere)

    # --- must be declined
    for q in (f"what medication is {a} on?", "do smokers have a higher AHI?", "compare AHI by blood pressure",
              f"how many spindles are there in {a}?", "count the K-complexes in the cohort",
              "¿cuántas noches hay?", "Combien de nuits y a-t-il ?", "wie viele Nächte gibt es?",
              "what is the heart rate over the whole recording, wake included?", "how many RERAs per night?", "is snoring worse in men?",
              "what is the average caffeine intake?", "睡眠效率是多少", "what is the sleep efficiency in REM?"):
        add(Item("decline", [q], None))
    return items


def add_fresh_phrasings(gold: Gold, items: list[Item], rem_everywhere: bool) -> None:
    """Questions first asked on the demo cohort by someone who did not write the planner; each was answered
    wrongly once (the cohort average for a named night, the best night for "worst", a count read as an average,
    the previous question's measure for another night...)."""
    n = gold.nights
    add = items.append
    r0, r1 = list(n.index[:2])
    if rem_everywhere:
        add(Item("fresh: average of one night", [f"What is the mean heart rate during REM in {r0}?"],
                 near(n.at[r0, "hr_REM"], 4.0)))
        rem_rich = set(n.index[n["REM_pct"] > 20])
        add(Item("fresh: value before measure", ["Which nights have more than 20% REM?"], exactly_nights(rem_rich)))
    severe = set(n.index[n["ahi"] >= 30])
    add(Item("fresh: AASM severity", ["How many nights have severe OSA by AHI?"],
             lambda t: f"**{len(severe)} night(s)**" in t.answer and names_in(t.answer) == severe))
    worst = n["efficiency"].idxmin()
    add(Item("fresh: worst = lowest", ["Show me the hypnogram of the night with the worst sleep efficiency."],
             lambda t: f"**{worst}** has the lowest" in t.answer and t.figures == 1))
    add(Item("fresh: best = lowest", ["Which night has the best AHI?"],
             has(f"has the lowest AHI (events/h): **{f1(n['ahi'].min())}**")))
    add(Item("fresh: older have less", ["Do older patients have less deep sleep?"], _trend_check(n, "N3_pct")))
    add(Item("fresh: which group", ["Which site has the highest average AHI?"], _compare_check(n, "ahi", "site")))
    add(Item("fresh: per hour", [f"How many arousals per hour does {r0} have?"],
             value_is(n.at[r0, "arousal_index"])))
    add(Item("fresh: two nights", [f"What is the heart rate during N2 in {r0} compared with {r1}?"],
             lambda t: names_in(t.answer) == {r0, r1} and "by phenotype" not in t.answer))
    add(Item("fresh: mean per night", ["What is the average number of hypopneas per night?"],
             shown(np.mean([gold.count(r, "hypopnea") for r in n.index]))))
    both = set(n.index[(n["ahi"] > 15) & (n["bmi"] > 30)])
    add(Item("fresh: two thresholds", ["Which patients have both an AHI above 15 and a BMI over 30?"],
             exactly_nights(both)))
    older = set(n.index[n["age"] > 60])
    add(Item("fresh: subjects are over", ["How many subjects are over 60?"],
             lambda t: f"**{len(older)} night(s)**" in t.answer and names_in(t.answer) == older))
    add(Item("fresh: or more", ["What proportion of nights have an AHI of 15 or more?"],
             exactly_nights(set(n.index[n["ahi"] >= 15]))))
    add(Item("fresh: stage minutes", [f"How many N1 minutes in {r0}?"], shown(n.at[r0, "N1_min"])))
    obese = set(n.index[n["bmi"] >= 30])
    add(Item("fresh: obese", ["How many patients are obese?"],
             lambda t: f"**{len(obese)} night(s)**" in t.answer and names_in(t.answer) == obese))
    add(Item("fresh: severity without a label", ["Which nights have severe sleep apnea?"], exactly_nights(severe)))
    add(Item("fresh: least of a stage", ["Which night has the least REM sleep?"] if rem_everywhere else
             ["Which night has the least N3 sleep?"],
             has(f"**{n[('REM' if rem_everywhere else 'N3') + '_min'].idxmin()}** has the lowest")))
    short = set(n.index[n["tst_min"] < 360])
    add(Item("fresh: hours for minutes", ["How many nights have a total sleep time under 6 hours?"],
             lambda t: f"**{len(short)} night(s)**" in t.answer and names_in(t.answer) == short))
    add(Item("fresh: above the average", ["Which nights have an arousal index above the cohort average?"],
             exactly_nights(set(n.index[n["arousal_index"] > n["arousal_index"].mean()]))))
    add(Item("fresh: standard deviation", ["What is the standard deviation of the AHI?"],
             shown(n["ahi"].std(ddof=1))))
    add(Item("fresh: range", ["What is the range of sleep efficiency in the cohort?"],
             has(f": {f1(n['efficiency'].min())}–{f1(n['efficiency'].max())}**")))
    add(Item("fresh: most severe", ["Which patient has the most severe sleep apnea?"],
             has(f"**{n['ahi'].idxmax()}** has the highest AHI")))
    apneas = gold.events[gold.events["type"].isin(("obstructive_apnea", "central_apnea", "mixed_apnea"))]
    supine = apneas[apneas["supine"]].groupby("recording").size().reindex(n.index, fill_value=0)
    no_position = {r for r in n.index if "POS" in n.loc[r, "missing"]}  # nothing to read the position from
    add(Item("fresh: apneas while supine", ["How many apneas occurred in supine position?"],
             lambda t: all(f"{r} — {int(c)}" in t.answer for r, c in supine.items() if r not in no_position)
             and all(r in t.answer.split("Not available for:")[-1] for r in no_position)))
    if rem_everywhere and r0 not in no_position:  # the AHI within REM and supine: both in the events and the time
        both = (gold.stages[r0] == "REM") & gold.supine_epochs[r0]
        ev0 = gold.events[(gold.events["recording"] == r0) & gold.events["type"].isin(RESP)]
        n_both = int((ev0["supine"] & (ev0["stage"] == "REM")).sum())
        hours = both.sum() * 30 / 3600
        add(Item("fresh: the AHI within a stage and a position", [f"What's the supine REM AHI of {r0}?"],
                 value_is(n_both / hours if hours else np.nan) if hours else has("undefined")))
    for q in ("Which night has the worst heart rate in REM?", f"How many position changes did {r0} have?"):
        add(Item("fresh: decline", [q], None))
    ok = n[["odi", "ahi"]].dropna()
    if len(ok) >= 3:  # a correlation between two night measures: Spearman's rho over the nights, from the files
        rho = float(sps.spearmanr(ok["odi"], ok["ahi"]).statistic)
        add(Item("fresh: correlation of two night measures", ["Is the ODI correlated with the AHI?"],
                 has(f"Spearman rho = {rho:.2f}", f"n = {len(ok)} nights")))
    whole = np.ones(len(gold.stages[r0]), bool)  # apneas of every kind per hour of sleep: the apnea index (AI)
    add(Item("fresh: apnea index", [f"how many apneas per hour in {r0}?"],
             value_is(gold.ahi_in(r0, whole, ("obstructive_apnea", "central_apnea", "mixed_apnea")))))
    no_n3 = set(n.index[n["N3_pct"].fillna(0) == 0])  # read since session 26: nights without a minute of N3
    add(Item("fresh: no stage at all", ["How many nights had no N3 at all?"],
             lambda t: f"**{len(no_n3)} night(s)**" in t.answer and names_in(t.answer) == no_n3))
    add(Item("fresh: own question after a value", [f"What is the ODI of {r0}?", f"How many position changes did {r1} "
                                                   "have?"], None))
    add_third_round(gold, items)
    add_event_durations(gold, items)


def add_event_durations(gold: Gold, items: list[Item]) -> None:
    """How long events last: a night's mean and longest (once declined, then answered wrong by other tools)."""
    n, ev = gold.nights, gold.events
    add = items.append
    r0, r1 = list(n.index[:2])
    apneas = ev[ev["type"].isin(RESP[:3])]
    longest = apneas[apneas["recording"] == r0]["duration_s"].max()
    add(Item("durations: longest apnea of a night", [f"How long was the longest apnea in {r0}?"],
             value_is(longest) if np.isfinite(longest) else has("no duration to give")))
    hyp = ev[(ev["type"] == "hypopnea") & (ev["recording"] == r1)]["duration_s"]
    add(Item("durations: mean hypopnea duration", [f"What is the mean hypopnea duration of {r1}?"],
             value_is(hyp.mean()) if len(hyp) else has("no duration to give")))
    per_night = ev[ev["type"] == "hypopnea"].groupby("recording")["duration_s"].max()
    add(Item("durations: the night with the longest hypopnea", ["Which night has the longest hypopnea?"],
             has(f"**{per_night.idxmax()}** has the longest hypopnea")))
    long40 = apneas[apneas["duration_s"] > 40].groupby("recording").size().reindex(n.index, fill_value=0)
    add(Item("durations: events picked by duration, each night's count",
             ["How many apneas lasted longer than 40 seconds?"],
             has("lasting more than 40 s", *(f"{r} — {int(c)}\n" for r, c in long40.items()))))
    if len(apneas[apneas["recording"] == r0]):
        cut = float(apneas[apneas["recording"] == r0]["duration_s"].median())
        mine = apneas[(apneas["recording"] == r0) & (apneas["duration_s"] >= cut)]
        add(Item("durations: events of at least a duration in one night",
                 [f"How many apneas of at least {cut:g} s did {r0} have?"], shown(len(mine))))


def add_third_round(gold: Gold, items: list[Item]) -> None:
    """Phrasings first asked on a cohort the bank was not tuned on (6 new nights, an unscored one and two real
    files): each was declined, misread or answered with another tool's result once."""
    n = gold.nights
    add = items.append
    r0, r1 = list(n.index[:2])
    add(Item("third: share of the night in a stage", [f"What percentage of the night was {r0} in N3?"],
             value_is(n.at[r0, "N3_pct"])))
    add(Item("third: mean age", ["What is the mean age?"], shown(n["age"].mean())))
    add(Item("third: age range", ["What is the age range?"],
             has(f": {int(n['age'].min())}–{int(n['age'].max())}**")))
    add(Item("third: a stage alone in a comparison", ["Is there a difference in N3 between sites?"],
             _compare_check(n, "N3_pct", "site")))
    first_stage = str(gold.stages[r0][0])
    add(Item("third: the first epoch", [f"What stage is {r0} in at its first epoch?"],
             has(f"**{r0} epoch 0**", f"— stage {first_stage},")))
    true_bpm = float(gold.heart_rate[r1][7])

    def epoch_hr(t: Turn) -> bool:
        m = re.search(r"Measured in this epoch: mean heart rate ([\d.]+) bpm", t.answer)
        return bool(m) and abs(float(m.group(1)) - true_bpm) <= 4.0

    add(Item("third: an epoch's heart rate after a search", [f"find epochs similar to epoch 2 of {r0}",
                                                             f"what is the heart rate at epoch 7 of {r1}?"], epoch_hr))
    add(Item("third: who scored", ["Which recordings have no hypnogram?"],
             has(f"every annotation from the scoring file supplied with the recording: {len(n)} of {len(n)}",
                 "is not recorded in it")))
    add(Item("third: a summary of the cohort", ["Give me a summary of the cohort"],
             lambda t: names_in(t.answer) == set(n.index) and "**Nights**" in t.answer))
    for q in ("What's the prevalence of OSA in this cohort?",
              f"How well does the model stage {r0} compared with its hypnogram?"):
        add(Item("third: decline", [q], None))


def add_windows(gold: Gold, items: list[Item]) -> None:
    """Questions about a part of the night: halves, first / last hours, hours after sleep onset, clock times."""
    n = gold.nights
    recs = list(n.index)
    a, b = recs[0], recs[1]
    apneas = ("obstructive_apnea", "central_apnea", "mixed_apnea")

    def add(kind: str, turns: list[str], x: float, check: Callable[[Turn], bool] | None = None) -> None:
        items.append(Item(kind, turns, (check or shown(x)) if np.isfinite(x) else None))  # undefined: declined

    for rec in (a, b):
        first, second = gold.window(rec, "half", "first"), gold.window(rec, "half", "second")
        add("window half", [f"what is the AHI in the first half of the night in {rec}?"], gold.ahi_in(rec, first))
        add("window half", [f"AHI during the 1st half of {rec}"], gold.ahi_in(rec, first))
        add("window half", [f"{rec}: AHI in the second half of the night"], gold.ahi_in(rec, second))
        add("window WASO", [f"wake after sleep onset in the second half of {rec}"], gold.waso_in(rec, second))
        late = gold.window(rec, "clock", ("01:00", None))
        add("window clock", [f"how many apneas after 1 am in {rec}"], gold.count_in(rec, late, apneas))
        mid = gold.window(rec, "clock", ("23:30", "00:30"))
        add("window clock", [f"how many arousals between 23:30 and 00:30 in {rec}?"],
            gold.count_in(rec, mid, ("arousal",)))
        add("window clock", [f"number of hypopneas before midnight in {rec}"],
            gold.count_in(rec, gold.window(rec, "clock", (None, "00:00")), ("hypopnea",)))
        last2 = gold.window(rec, "last_h", 2)
        add("window HR", [f"what is the heart rate in the last 2 hours of {rec}?"], gold.hr_in(rec, last2),
            near(gold.hr_in(rec, last2), 4.0))
        add("window HR", [f"heart rate during N2 in the first half of {rec}"], gold.hr_in(rec, first, "N2"),
            near(gold.hr_in(rec, first, "N2"), 4.0))
        asleep = np.isin(gold.stages[rec], SLEEP)
        hr_asleep = gold.hr_in(rec, asleep)  # no sleep: "not available", not a decline
        items.append(Item("sleep HR", [f"what is the mean heart rate over all sleep in {rec}?"],
                          near(hr_asleep, 4.0) if np.isfinite(hr_asleep) else has("not available")))
        add("window minutes", [f"total sleep time in the first 90 minutes of {rec}"],
            gold.minutes_in(rec, gold.window(rec, "first_h", 1.5), SLEEP))
        add("window minutes", [f"minutes of REM after midnight in {rec}"],
            gold.minutes_in(rec, gold.window(rec, "clock", ("00:00", None)), ("REM",)))
        add("window index", [f"ODI in the first 2 hours of {rec}"],
            gold.ahi_in(rec, gold.window(rec, "first_h", 2), ("oxygen_desaturation",)))
        add("window follow-up", [f"describe {rec}", "and how many arousals in the first half of this night?"],
            gold.count_in(rec, first, ("arousal",)))
    add("window follow-up", [f"what is the AHI in the first half of the night in {a}?", f"what about {b}?"],
        gold.ahi_in(b, gold.window(b, "half", "first")))
    second = {r: gold.ahi_in(r, gold.window(r, "half", "second")) for r in recs}
    add("window aggregate", ["average AHI in the second half of the night"], float(np.nanmean(list(second.values()))))
    onset2 = {r: gold.ahi_in(r, gold.window(r, "onset_h", 2)) for r in recs}
    top = max((r for r in recs if np.isfinite(onset2[r])), key=lambda r: onset2[r])
    items.append(Item("window argmax", ["which night has the highest AHI in the first 2 hours after sleep onset?"],
                      has(f"**{top}** has the highest")))
    arousal1 = {r: gold.ahi_in(r, gold.window(r, "half", "first"), ("arousal",)) for r in recs}
    items.append(Item("window rank", ["rank the nights by arousal index in the first half of the night"],
                      ranked_as(sorted((r for r in recs if np.isfinite(arousal1[r])), key=lambda r: -arousal1[r]))))
    for q in (f"how many apneas after 11 am in {a}?", f"what is the sleep latency in the second half of {a}?",
              "is the AHI higher in the second half of the night than in the first half?",
              "how many nights have an AHI above 15 in the first half of the night?"):
        items.append(Item("window decline", [q], None))


def _near_number(answer: str, gold: float, tol: float) -> bool:
    m = re.search(r"\*\*[^*]*: (-?\d+(?:\.\d+)?)\*\*", answer)  # "25.5", or a count: "41"
    return bool(m) and abs(float(m.group(1)) - gold) <= tol


def near(gold: float, tol: float) -> Callable[[Turn], bool]:
    """The answer's bold value is within ``tol`` of ``gold``."""
    return lambda t: _near_number(t.answer, gold, tol)


def ranked_as(order: list[str]) -> Callable[[Turn], bool]:
    """The answer's ranked list is exactly ``order``."""
    return lambda t: _ranked(t.answer) == order


def described_with_hypnogram(rec: str) -> Callable[[Turn], bool]:
    return lambda t: f"**{rec}** — subject" in t.answer and t.figures == 1


def _ranked(answer: str) -> list[str]:
    """The nights of a ranked list ("1. sim-0004 — 48.7"), in order."""
    return re.findall(r"^\d+\. (sim-\d{4}) — ", answer, re.MULTILINE)


def _compare_check(n: pd.DataFrame, col: str, by: str) -> Callable[[Turn], bool]:
    sizes = {g: len(d) for g, d in n.groupby(by)}
    groups = {g: d[col].dropna() for g, d in n.groupby(by)}

    def cell(v: float) -> str:
        return "n/a" if not np.isfinite(v) else f"{round(v, 2):g}"

    def check(t: Turn) -> bool:
        for g, x in groups.items():
            if f"| {g} | {sizes[g]} | {cell(x.mean())} | {cell(x.median())} |" not in t.answer:
                return False
        groups_ = {g: x for g, x in groups.items() if len(x)}
        if len(groups_) >= 2 and sum(map(len, groups_.values())) > len(groups_):
            xs = list(groups_.values())
            p = (sps.mannwhitneyu(xs[0], xs[1]).pvalue if len(xs) == 2 else sps.kruskal(*xs).pvalue)
            shown = "< 0.001" if p < 0.001 else f"{p:.3f}"
            if f"p = {shown}" not in t.answer:
                return False
        small = any(len(x) < 5 for x in groups.values())
        return ("Caution: small groups" in t.answer) == small
    return check


def _trend_check(n: pd.DataFrame, col: str) -> Callable[[Turn], bool]:
    rho = n[["age", col]].corr(method="spearman").iloc[0, 1]
    return has(f"Spearman rho = {rho:.2f}", f"n = {int(n[['age', col]].notna().all(axis=1).sum())} nights")


def _hits_in_stage(answer: str, gold: Gold, stage: str) -> bool:
    hits = re.findall(r"^\d+\. (sim-\d{4}) epoch (\d+)", answer, re.MULTILINE)
    if not hits or "phenotype" in answer.split("\n")[0]:
        return False
    return all(gold.stages[rec][int(k)] == stage for rec, k in hits)


def run(cohort, items: list[Item], figure_dir: Path) -> list[tuple[Item, str, str]]:
    """Ask every item in a fresh router session; (item, outcome, last answer) with outcome right /
    declined / wrong."""
    from sleeplm.agent import ChatSession, ToolConfig

    out = []
    for i, item in enumerate(items):
        session = ChatSession(cohort, "router", config=ToolConfig(figure_dir=figure_dir / str(i), caption_max_len=4))
        for q in item.turns:
            turn = session.respond(q)
        last = Turn(turn.answer, len(turn.figures), [s.name for s in turn.steps])
        declined = bool(DECLINE.search(last.answer))
        if item.check is None:
            outcome = "right" if declined else "wrong"
        elif declined:
            outcome = "declined"
        else:
            outcome = "right" if item.check(last) else "wrong"
        out.append((item, outcome, last.answer))
    return out


def shares(results: list[tuple[Item, str, str]]) -> dict[str, float]:
    """Share of right / declined / wrong answers."""
    n = len(results)
    return {k: sum(o == k for _, o, _ in results) / n for k in ("right", "declined", "wrong")}
