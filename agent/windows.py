"""Time of night: read a time window from a question and compute measures within it.

A :class:`~sleeplm.agent.query.Window` restricts a query to a part of every night: a half of the recording,
its first / last hours (from lights-off, taken as the recording's start), the hours after sleep onset, or
wall-clock times ("after 3 am", "between 01:00 and 03:00"). A window is a set of whole 30-s epochs; an event
belongs to the epoch it starts in, so counts and indices agree with the night metrics' own rules (AASM: an
index counts events starting in sleep, per hour of sleep).

Clock times are placed on the night by the recording's start time: each time is the occurrence nearest the
middle of the recording (3 am in a night that starts at 22:10 is the next morning). A night without a start
time, or a window that misses the recording, has no value, and the answer says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sleeplm.encoder.vocab import APNEAS, EPOCH_S, EVENT_TYPES, SLEEP_STAGES

from .query import ATTRIBUTES, STAGE_GROUPS, Decline, Measure, Query, Window
from .vocab import EVENT_GROUPS

if TYPE_CHECKING:
    from .measure_values import Frames

# ------------------------------------------------------------------ reading a window from a question
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "an": 1, "a": 1, "half an": 0.5, "1.5": 1.5}
_N = r"(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|an|a)"
_UNIT = r"(hours?|hrs?|h|minutes?|mins?)"
CLOCK_TOKEN = r"(midnight|noon|\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2}|\d{1,2}\s*o'?clock)"
_ONSET = r"(sleep onset|falling asleep|fell asleep|(?:the )?onset of sleep|sleep began|sleep started)"
_LIGHTS_OFF = r"(lights?[- ]off|lights? out|the start of the recording|recording start|bedtime)"
#: Time-of-night words that no window above reads: asked with them, a question is declined, never answered for
#: the whole night as if they were not there.
_UNREAD_TIME = (r"\b(?:thirds?|quarters?)\b(?! of (?:the )?(?:nights|cohort|subjects|patients))"
                r"(?!\s+(?:one|hit|result|match|epoch|night)\b)|\bin the (?:morning|evening)\b|"
                r"\b(?:early|late) (?:morning|evening|in the night|in the recording|part)\b|\bmiddle of the night\b|"
                r"\b(?:beginning|end) of (?:the )?(?:night|recording|sleep)\b")


def _amount_h(num: str, unit: str | None) -> float:
    x = float(_NUMBER_WORDS.get(num, num)) if num in _NUMBER_WORDS or re.fullmatch(r"\d+(\.\d+)?", num) else 1.0
    return x / 60.0 if unit and unit.startswith("m") else x


def clock_hhmm(token: str, suffix: str | None = None) -> str | None:
    """"HH:MM" for a clock token ("3 am", "03:00", "midnight", "11pm"); None when it is no clock time."""
    tok = token.strip().replace(".", "")
    if tok == "midnight":
        return "00:00"
    if tok == "noon":
        return "12:00"
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|o'?clock)?", tok)
    if not m:
        return None
    h, mm, ap = int(m.group(1)), int(m.group(2) or 0), m.group(3) or suffix
    if ap in ("am", "pm"):
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ap == "pm" else 0)
    if h > 23 or mm > 59:
        return None
    return f"{h:02d}:{mm:02d}"


_FIRST = ("first", "initial", "opening")
_LEAVE_OUT = (r"(?:excluding|exclude|except(?:\s+for)?|without|apart from|other than|not counting|ignoring|leaving out|"
              r"minus|disregarding|discounting|omitting|skipping|dropping|removing)")


def _rest_of_night(t: str) -> Window | Decline | None:
    """The recording without its first / last N hours: "excluding the first 30 minutes", "after the first hour",
    "before the last 2 hours" (a window that leaves a part out, never the part itself)."""
    m = re.search(rf"\b{_LEAVE_OUT}\s+(?:the\s+)?(first|initial|opening|last|final|closing)\s+{_N}?\s*{_UNIT}\b", t)
    if m is None:
        m = re.search(rf"\b(?:after|past|beyond|following|later than)\s+(?:the\s+)?(first|initial|opening)\s+"
                      rf"{_N}?\s*{_UNIT}\b", t) or \
            re.search(rf"\b(?:before|until|till|up to|prior to)\s+(?:the\s+)?(last|final|closing)\s+{_N}?\s*{_UNIT}\b", t)
    if m is None:
        return None
    if re.match(rf"\s+(?:(?:after|from|following|since|of)\s+{_ONSET}|of sleep\b)", t[m.end():]):
        return Decline(f"the question leaves out a part of the night counted from sleep onset (\"{m.group(0)}\"), "
                       "which I cannot read as a time window, and a whole-night value would not answer it. I read the "
                       "recording without its first or last N hours (from lights-off, taken as its start).",
                       f"a part of the night: {m.group(0)}", "what is the AHI excluding the first 30 minutes?")
    which, num, unit = m.group(1), m.group(2) or "1", m.group(3)
    return Window("after_first_hours" if which in _FIRST else "before_last_hours", hours=_amount_h(num, unit))


def find_window(t: str) -> Window | Decline | None:
    """The time window a (lower-case) question names, a decline for one it names but cannot be read as one
    window (two halves at once), or None.

    Examples
    --------
    >>> find_window("ahi in the first half of the night")
    Window(kind='half', which='first', hours=None, start_clock=None, end_clock=None)
    >>> find_window("how many apneas after 3 am in sim-0002").start_clock
    '03:00'
    """
    halves = re.findall(r"\b(first|1st|early|earlier|second|2nd|latter|last|later) half\b", t)
    if halves:
        which = {"first" if w in ("first", "1st", "early", "earlier") else "second" for w in halves}
        if len(which) > 1 or re.search(r"\b(halves|versus|vs\.?|compared)\b", t):
            return Decline("comparing two parts of the night is not something I can do yet; I can give a value "
                           "for one part at a time.", "a comparison between halves of the night",
                           "what is the AHI in the first half of the night?")
        return Window("half", which=which.pop())
    rest = _rest_of_night(t)
    if rest is not None:
        return rest
    m = re.search(rf"\b(?:after|past|beyond|following|later than|before|until|till|up to)\s+(?:the\s+)?"
                  rf"(?:(?:first|initial|last|final)\s+)?{_N}?\s*{_UNIT}\b", t)
    if m:  # "after 1 hour", "before the first hour": which part of the night is meant is not said
        return Decline(f"the question names a part of the night (\"{m.group(0)}\") that I cannot read as a time "
                       "window, and a whole-night value would not answer it. I read: the first or second half, the "
                       "first or last N hours, the night without its first or last N hours, the first N hours after "
                       "sleep onset, and clock times such as "
                       "\"between 1 am and 3 am\" or \"after 3 am\".", f"a part of the night: {m.group(0)}",
                       "how many arousals are there in the second half of the night?")
    m = re.search(rf"\b(?:first|initial)\s+{_N}?\s*{_UNIT}\s+(?:after|from|following|since|of)\s+{_ONSET}", t) or \
        re.search(rf"\b(?:first|initial)\s+{_N}?\s*{_UNIT}\s+of sleep\b", t) or \
        re.search(rf"\b(?:within|in)\s+(?:the\s+)?{_N}\s*{_UNIT}\s+(?:after|following|of)\s+{_ONSET}", t)
    if m:
        return Window("after_sleep_onset", hours=_amount_h(m.group(1) or "1", m.group(2)))
    m = re.search(rf"\b(first|initial|opening|last|final|closing)\s+{_N}?\s*{_UNIT}\b", t) or \
        re.search(rf"\b(?:within|in)\s+(?:the\s+)?{_N}\s*{_UNIT}\s+(?:after|following|of)\s+{_LIGHTS_OFF}", t)
    if m:
        groups = m.groups()
        if len(groups) == 3:
            kind = "first_hours" if groups[0] in ("first", "initial", "opening") else "last_hours"
            num, unit = groups[1] or "1", groups[2]
        else:
            kind, num, unit = "first_hours", groups[0], groups[1]
        return Window(kind, hours=_amount_h(num, unit))
    m = re.search(rf"\bbetween\s+(\d{{1,2}}(?::\d{{2}})?)\s+and\s+{CLOCK_TOKEN}", t)
    if m and not re.search(r"(am|pm|a\.m\.|p\.m\.|o'?clock)$", m.group(1)) and clock_hhmm(m.group(2)):
        suffix = re.search(r"(am|pm)", m.group(2).replace(".", ""))
        a = clock_hhmm(m.group(1), suffix.group(1) if suffix and ":" not in m.group(1) else None)
        b = clock_hhmm(m.group(2))
        if a and b:
            return Window("clock", start_clock=a, end_clock=b)
    m = re.search(rf"\b(?:between|from)\s+{CLOCK_TOKEN}\s+(?:and|to|until|till|-|–)\s+{CLOCK_TOKEN}", t)
    if m and clock_hhmm(m.group(1)) and clock_hhmm(m.group(2)):
        return Window("clock", start_clock=clock_hhmm(m.group(1)), end_clock=clock_hhmm(m.group(2)))
    start = re.search(rf"\b(?:after|since|from|past|later than)\s+{CLOCK_TOKEN}", t)
    end = re.search(rf"\b(?:before|until|till|up to|earlier than)\s+{CLOCK_TOKEN}", t)
    if start or end:
        return Window("clock", start_clock=clock_hhmm(start.group(1)) if start else None,
                      end_clock=clock_hhmm(end.group(1)) if end else None)
    unread = re.search(_UNREAD_TIME, t)
    if unread and not re.search(r"\bepochs?\b|\bat\s+\d", t):  # "the epoch at 3 am": a moment, not a window
        return Decline(f"the question names a part of the night (\"{unread.group(0)}\") that I cannot read as a "
                       "time window, and a whole-night value would not answer it. I read: the first or second half, "
                       "the first or last N hours, the night without its first or last N hours, the first N hours "
                       "after sleep onset, and clock times such as "
                       "\"between 1 am and 3 am\" or \"after 3 am\".", f"a part of the night: {unread.group(0)}",
                       "how many arousals are there in the second half of the night?")
    return None


# ------------------------------------------------------------------ placing a window on each night
@dataclass(frozen=True)
class Span:
    """Where a window falls in one night: a boolean mask over its epochs (time order), in words."""

    recording: str
    mask: np.ndarray | None  # None: the window cannot be placed on this night (``why`` says why)
    text: str = ""  # "22:14–01:29 (epochs 0–389)"
    note: str = ""  # "the recording ends at 04:58"
    why: str = ""


def _hm(ts: pd.Timestamp | datetime | None) -> str:
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%H:%M")


def _anchor(hhmm: str, mid: pd.Timestamp) -> pd.Timestamp:
    """The occurrence of a clock time nearest ``mid``."""
    h, m = map(int, hhmm.split(":"))
    base = mid.normalize() + pd.Timedelta(hours=h, minutes=m)
    return min((base + pd.Timedelta(days=d) for d in (-1, 0, 1)), key=lambda x: abs(x - mid))


def place(window: Window, rec: str, night: pd.DataFrame) -> Span:
    """The window on one night's epochs (``night``: its rows of the timeline frame, in time order)."""
    n = len(night)
    if n == 0:
        return Span(rec, None, why=f"{rec} has no epochs")
    onset = night["onset_s"].to_numpy(float)
    rel = onset - onset[0]
    sleep = night["stage"].isin(("N1", "N2", "N3", "REM")).to_numpy()
    length_h = n * EPOCH_S / 3600.0
    note = ""
    if window.kind == "half":
        i = np.arange(n)
        mask = 2 * i < n if window.which == "first" else 2 * i >= n
    elif window.kind in ("first_hours", "last_hours"):
        h = float(window.hours or 0)
        mask = rel < h * 3600 if window.kind == "first_hours" else rel >= n * EPOCH_S - h * 3600
        if h >= length_h:
            note = f"the recording is only {length_h:.1f} h long, so this is the whole recording"
    elif window.kind in ("after_first_hours", "before_last_hours"):
        h = float(window.hours or 0)
        mask = rel >= h * 3600 if window.kind == "after_first_hours" else rel < n * EPOCH_S - h * 3600
        if h >= length_h:
            return Span(rec, None, why=f"{rec} is only {length_h:.1f} h long: nothing is left once {h:g} h are "
                                       "left out")
    elif window.kind == "after_sleep_onset":
        if not sleep.any():
            return Span(rec, None, why=f"no epoch of {rec} is scored as sleep, so it has no sleep onset")
        k0 = int(np.flatnonzero(sleep)[0])
        mask = (np.arange(n) >= k0) & (rel - rel[k0] < float(window.hours or 0) * 3600)
        if rel[-1] + EPOCH_S - rel[k0] <= float(window.hours or 0) * 3600:
            note = f"the recording ends {(rel[-1] + EPOCH_S - rel[k0]) / 3600:.1f} h after sleep onset"
    else:
        clock = pd.to_datetime(night["clock_time"])
        if clock.isna().any():
            return Span(rec, None, why=f"{rec} has no start time in its file, so clock times cannot be placed in it")
        t0, t1 = clock.iloc[0], clock.iloc[-1] + pd.Timedelta(seconds=EPOCH_S)
        mid = t0 + (t1 - t0) / 2
        ws = _anchor(window.start_clock, mid) if window.start_clock else t0
        we = _anchor(window.end_clock, mid) if window.end_clock else t1
        runs = f"{rec} runs from {_hm(t0)} to {_hm(t1)} (night of {t0:%Y-%m-%d})"
        if we <= ws and window.start_clock and window.end_clock:
            return Span(rec, None, why=f"the window {window.text()} ends before it starts in {rec} ({runs})")
        mask = ((clock >= ws) & (clock < we)).to_numpy()
        if not mask.any():
            return Span(rec, None, why=f"{runs}; the window {window.text()} falls outside it")
        notes = []
        if ws < t0:
            notes.append(f"the recording starts at {_hm(t0)}")
        if we > t1:
            notes.append(f"the recording ends at {_hm(t1)}")
        note = " and ".join(notes)
    if not mask.any():
        return Span(rec, None, why=f"the window {window.text()} holds no epoch of {rec}")
    k = np.flatnonzero(mask)
    idx = night["epoch_index"].to_numpy()
    clock = pd.to_datetime(night["clock_time"])
    first, last = k[0], k[-1]
    when = (f"{_hm(clock.iloc[first])}–{_hm(clock.iloc[last] + pd.Timedelta(seconds=EPOCH_S))}, "
            if not clock.isna().any() else "")
    hours = f"{rel[first] / 3600:.2f}–{(rel[last] + EPOCH_S) / 3600:.2f} h after the start"
    return Span(rec, mask, f"{when}{hours}, epochs {idx[first]}–{idx[last]}", note)


# ------------------------------------------------------------------ measures within the window
#: Event types each per-hour index counts (the same table as the whole-night metrics).
def _index_events() -> dict[str, tuple[str, ...]]:
    from .measure_values import INDEX_EVENTS

    return INDEX_EVENTS


#: Night-metric counts of events in sleep, and the event types each counts.
COUNT_METRICS: dict[str, tuple[str, ...]] = {"n_apneas": APNEAS, "n_hypopneas": ("hypopnea",),
                                             "n_desaturations": ("oxygen_desaturation",),
                                             "n_arousals": ("arousal",)}
WINDOW_METRICS = ("tst_min", "sleep_efficiency_pct", "waso_min", "n1_pct", "n2_pct", "n3_pct", "rem_pct",
                  "spo2_mean_pct", "spo2_min_pct", "hr_bpm", "hr_sleep_bpm", *COUNT_METRICS)


class WindowData:
    """One query's window placed on every night, with the epochs and events it needs (computed once)."""

    def __init__(self, fr: Frames, window: Window):
        self.window = window
        self.fr = fr
        tl = fr.cohort.epoch_timeline_frame()
        self.nights: dict[str, pd.DataFrame] = {r: g.reset_index(drop=True) for r, g in tl.groupby("recording")}
        self.spans: dict[str, Span] = {r: place(window, r, self.nights.get(r, tl.iloc[:0]))
                                       for r in fr.nights.index}
        self.why: dict[tuple[str, Measure], str] = {}
        self.cache: dict[Measure, pd.Series] = {}
        ev = fr.events()
        self.events: dict[str, pd.DataFrame] = {r: g for r, g in ev.groupby("recording")}

    def _event_epochs(self, rec: str) -> pd.DataFrame:
        """The night's events with the position (in time order) of the epoch each starts in (-1: none)."""
        ev = self.events.get(rec, self.fr.events().iloc[:0])
        night = self.nights[rec]
        onset = night["onset_s"].to_numpy(float)
        k = np.searchsorted(onset, ev["onset_s"].to_numpy(float), side="right") - 1
        inside = (k >= 0) & (ev["onset_s"].to_numpy(float) < onset[np.clip(k, 0, None)] + EPOCH_S)
        return ev.assign(k=np.where(inside, k, -1))

    def value(self, rec: str, m: Measure) -> float:
        """The measure within the window for one night (NaN, with the reason kept, when it has none)."""
        sp = self.spans[rec]
        if sp.mask is None:
            self.why[(rec, m)] = sp.why
            return np.nan
        night = self.nights[rec]
        mask = sp.mask
        stage = night["stage"].to_numpy().astype(str)
        sleep = np.isin(stage, SLEEP_STAGES)
        where = f"{rec} {self.window.text()}"
        sleep_h = float((mask & sleep).sum()) * EPOCH_S / 3600.0

        def none(reason: str) -> float:
            self.why[(rec, m)] = reason
            return np.nan

        def events_in(types: tuple[str, ...], in_stage: np.ndarray | None) -> int:
            ev = self._event_epochs(rec)
            ev = ev[ev["type"].isin(types) & (ev["k"] >= 0)]
            keep = mask[ev["k"].to_numpy()]
            if in_stage is not None:
                keep &= in_stage[ev["k"].to_numpy()]
            return int(keep.sum())

        if m.kind == "stage_minutes":
            return float((mask & (stage == m.name)).sum()) * EPOCH_S / 60.0
        if m.kind == "event_count":
            types = EVENT_GROUPS.get(m.name, (m.name,))
            if m.stage and not (mask & (stage == m.stage)).any():  # no REM in the window: nothing "in REM" to count
                from .measure_values import measure_label

                return none(f"no epoch of {where} is scored {m.stage}, so {measure_label(m)} is undefined")
            return float(events_in(types, stage == m.stage if m.stage else None))
        if m.kind == "stage_index":
            hours = float((mask & (stage == m.stage)).sum()) * EPOCH_S / 3600.0
            if hours == 0:
                return none(f"no epoch of {where} is scored {m.stage}")
            return events_in(_index_events()[m.name], stage == m.stage) / hours
        name = m.name
        if name in _index_events():
            return events_in(_index_events()[name], sleep) / sleep_h if sleep_h else \
                none(f"no epoch of {where} is scored as sleep, so per-hour indices are undefined")
        if name in COUNT_METRICS:
            return float(events_in(COUNT_METRICS[name], sleep))
        if name == "tst_min":
            return sleep_h * 60.0
        if name == "sleep_efficiency_pct":
            return 100.0 * float((mask & sleep).sum()) / float(mask.sum())
        if name == "waso_min":
            if not sleep.any():
                return none(f"no epoch of {rec} is scored as sleep, so it has no sleep onset")
            after = np.arange(len(stage)) >= int(np.flatnonzero(sleep)[0])
            return float((mask & after & ~sleep).sum()) * EPOCH_S / 60.0
        if re.fullmatch(r"(n1|n2|n3|rem)_pct", name):
            s = name.split("_")[0].upper()
            return 100.0 * float((mask & (stage == s)).sum()) / float((mask & sleep).sum()) if sleep_h else \
                none(f"no epoch of {where} is scored as sleep")
        if name.startswith("hr_"):
            hr = night["hr_mean_bpm"].to_numpy(float)
            s = name.split("_")[1].upper()
            sel = mask & (stage == s) if s in ("W", *SLEEP_STAGES) else (mask & sleep if s == "SLEEP" else mask)
            if s in ("W", *SLEEP_STAGES) and not sel.any():
                return none(f"no epoch of {where} is scored {s}")
            if s == "SLEEP" and not sel.any():
                return none(f"no epoch of {where} is scored as sleep")
            return float(np.nanmean(hr[sel])) if np.isfinite(hr[sel]).any() else \
                none(f"no heart rate was measured for {where} (no ECG, or no usable beats)")
        if name in ("spo2_mean_pct", "spo2_min_pct"):
            col = night[name].to_numpy(float)[mask & sleep]
            if not np.isfinite(col).any():
                return none(f"no SpO2 during sleep for {where}")
            return float(np.nanmean(col) if name == "spo2_mean_pct" else np.nanmin(col))
        return none(f"{name} has no value within part of a night")


def values(fr: Frames, m: Measure) -> pd.Series:
    """recording -> the measure within ``fr.window`` (NaN where a night has none); attributes and missing
    channels are not time-dependent and come from the whole night.

    Raises
    ------
    Unanswerable
        For a whole-night measure (sleep latency, REM latency, time in bed, position-based values).
    """
    from .measure_values import Unanswerable, measure_label
    from .measure_values import values as whole_night_values
    from .provenance import needed_kinds, unscored_kinds

    wd = fr.window_data()
    if m.kind in ("attribute", "missing_channels"):  # the same whatever the time
        window, fr.window = fr.window, None
        try:
            return whole_night_values(fr, m)
        finally:
            fr.window = window
    if m.kind == "metric" and m.name not in WINDOW_METRICS and m.name not in _index_events() \
            and not re.fullmatch(r"hr_(w|n1|n2|n3|rem)_bpm", m.name):
        raise Unanswerable(Decline(
            f"{measure_label(m)} is a whole-night measure; it has no value for part of a night "
            f"({wd.window.text()}).", f"{measure_label(m)} {wd.window.text()}",
            f"what is the AHI {wd.window.text().replace('of the recording', 'of the night')}?"))
    if m.kind == "event_count" and m.name not in EVENT_TYPES and m.name not in EVENT_GROUPS:
        raise Unanswerable(Decline(f"{m.name.replace('_', ' ')} is not a scored event kind in this cohort."))
    if m.position:
        raise Unanswerable(Decline(
            f"events are counted by body position over whole nights, not within part of a night ({wd.window.text()}).",
            f"{measure_label(m)} {wd.window.text()}", "how many apneas were there while supine in each night?"))
    if m.stage in STAGE_GROUPS:
        raise Unanswerable(Decline(
            f"a value within {m.stage} (pooled from {', '.join(STAGE_GROUPS[m.stage])}) is given over whole nights, not "
            f"within part of a night ({wd.window.text()}).", f"{measure_label(m)} {wd.window.text()}",
            f"what is the AHI during N2 {wd.window.text().replace('of the recording', 'of the night')}?"))
    if m.kind == "metric" and m.stage:
        raise Unanswerable(Decline(
            f"a value within one stage is given over whole nights, not within part of a night ({wd.window.text()}).",
            f"{measure_label(m)} {wd.window.text()}", f"what is the {measure_label(m).rsplit(' (', 1)[0]} of each night?"))
    if m.duration_op is not None:
        raise Unanswerable(Decline(
            f"events are picked by duration over whole nights, not within part of a night ({wd.window.text()}).",
            f"{measure_label(m)} {wd.window.text()}", "how many apneas lasting more than 30 s were there in each night?"))
    if m.kind in ("mean_event_duration", "longest_event_duration"):
        raise Unanswerable(Decline(
            f"event durations are given for whole nights, not for part of a night ({wd.window.text()}).",
            f"{measure_label(m)} {wd.window.text()}", "what is the longest apnea of each night?"))
    if m in wd.cache:
        return wd.cache[m].copy()
    out = pd.Series({r: wd.value(r, m) for r in fr.nights.index}, dtype=float)
    if needed_kinds(m):  # nobody scored the events: unknown, not zero
        for r in fr.nights.index:
            if unscored_kinds(fr, m, [r]):
                out[r] = np.nan
                wd.why.pop((r, m), None)
    wd.cache[m] = out
    return out.copy()


def why_empty(fr: Frames, m: Measure, nights: list[str]) -> str | None:
    """Why the measure has no value within the window for these nights (None: not a window reason)."""
    wd = fr.window_data()
    reasons = [wd.why[(r, m)] for r in nights if (r, m) in wd.why]
    if not reasons:
        return None
    uniq = list(dict.fromkeys(reasons))
    return uniq[0] if len(uniq) == 1 else "; ".join(uniq[:4]) + (" …" if len(uniq) > 4 else "")


def spans_of(fr: Frames, nights: list[str]) -> list[dict[str, str]]:
    """Where the window falls in each of these nights (JSON-ready)."""
    wd = fr.window_data()
    return [{"recording": r, "span": wd.spans[r].text, "note": wd.spans[r].note, "why": wd.spans[r].why}
            for r in nights if r in wd.spans]


def check_window(q: Query) -> None:
    """Decline what a time window cannot be combined with (say why and what can be asked).

    Raises
    ------
    Unanswerable
        For a count or list of nights, or a metric threshold, together with a window.
    """
    from .executor import filter_text
    from .measure_values import decline
    from .vocab import metric_label

    w = q.window.text()
    if q.ask in ("count", "list"):
        raise decline(f"counting or listing nights by what happens {w} is not something I can do yet.",
                       f"a count or list of nights, {w}", f"rank the nights by AHI {w}")
    thresholds = [f for f in q.filters if f.field not in ATTRIBUTES and f.field != "missing_channels"]
    if thresholds:
        raise decline(f"a threshold ({filter_text(thresholds[0])}) together with {w} is ambiguous: the whole "
                       "night's value or that part's?", f"{filter_text(thresholds[0])}, {w}",
                       f"rank the nights by {metric_label(thresholds[0].field).split(' (')[0]} {w}")
