"""Read facts back from a caption (ours, the official checkpoint's, or a model's output).

Robust to case and to the CLIP tokenizer's decoding ("3 9 . 0 5 %", "( c 4 - a 1 ):"):
the text is lower-cased and all whitespace is removed before matching, so digit runs are
re-joined and phrases match whatever the spacing. Sections may come in any order.
"""

from __future__ import annotations

import re

import numpy as np
from sleeplm.encoder.captions.facts import (
    EVENT_NAMES,
    POSITIONS,
    TRACK_SECTIONS,
    CaptionFacts,
    EventFact,
    PositionChange,
    PositionFacts,
    SectionFacts,
    Trend,
    canonical_track,
)

_NUM = r"(\d+(?:\.\d+)?)"
_POS = "|".join(sorted(POSITIONS, key=len, reverse=True))  # "upright" before "right"


def squash(text: str) -> str:
    """Lower-case and drop all whitespace ("3 9 . 0 5" -> "39.05")."""
    return re.sub(r"\s+", "", text.lower())


def _key(s: str) -> str:
    return squash(s)


_STAGE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("(n1)", "N1"), ("(n2)", "N2"), ("(n3)", "N3"), ("(n4)", "N3"),
    ("unscored", "UNKNOWN"), ("wake", "W"), ("rem", "REM"),
    ("n1", "N1"), ("n2", "N2"), ("n3", "N3"), ("deepsleep", "N3"), ("slowwave", "N3"),
)
_EVENT_KEYS: list[tuple[str, str]] = sorted(
    [(_key(name), t) for t, name in EVENT_NAMES.items()], key=lambda kv: -len(kv[0]))
_EVENT_RE = re.compile(
    "(" + "|".join(re.escape(k) for k, _ in _EVENT_KEYS) + r")event[a-z]*?from" + _NUM + "to" + _NUM
    + "second")
_TREND_RE = re.compile(r"(increasing|decreasing|stable)[a-z]*?from" + _NUM + "to" + _NUM + "second")
_CHANGE_RE = re.compile(f"from({_POS})to({_POS})at" + _NUM + "second")


def _parse_stage(s: str) -> str | None:
    first = re.split(r"\.(?!\d)", s, maxsplit=1)[0]
    for pat, stage in _STAGE_PATTERNS:
        if pat in first:
            return stage
    return None


def _parse_events(s: str) -> list[EventFact]:
    matches = list(_EVENT_RE.finditer(s))
    out = []
    for i, m in enumerate(matches):
        etype = dict(_EVENT_KEYS)[m.group(1)]
        tail_end = matches[i + 1].start() if i + 1 < len(matches) else len(s)
        nadir = re.search(r"nadir[a-z]*" + _NUM, s[m.end():tail_end])
        out.append(EventFact(etype, float(m.group(2)), float(m.group(3)),
                             float(nadir.group(1)) if nadir else None))
    return out


def _field_value(body: str, phrase: str) -> float | None:
    m = re.search(re.escape(_key(phrase)) + r"[^0-9]{0,24}?" + _NUM, body)
    return float(m.group(1)) if m else None


def _parse_position(s: str) -> PositionFacts | None:
    m = re.search(r"(thepatient|bodyposition)", s)
    if not m:
        return None
    body = s[m.start():]
    if "undetermined" in body[:60] or "unknown" in body[:60]:
        return PositionFacts("unknown")
    head = re.split(r"moving|changing|\.(?!\d)", body, maxsplit=1)[0]
    p = re.search(f"({_POS})", head)
    if not p:
        return None
    changes = [PositionChange(a, b, float(t)) for a, b, t in _CHANGE_RE.findall(body)]
    return PositionFacts(p.group(1), changes)


def _title_pattern(title: str) -> str:
    """A section title, also when it names the recorded lead: "(C3-A1 in place of C3-A2)"."""
    key = _key(title)
    m = re.match(r"(.*)\((.*)\)$", key)
    if not m:
        return re.escape(key) + ":"
    return re.escape(m.group(1)) + r"\((?:[^()]*?inplaceof)?" + re.escape(m.group(2)) + r"\):"


def parse_caption(text: str, track: str) -> CaptionFacts:
    """Facts stated by a caption of ``track`` (sections in any order, missing ones absent).

    Numbers come back as rendered (rounded); unknown phrases are ignored.
    """
    track = canonical_track(track)
    s = squash(text)
    facts = CaptionFacts(track)
    if track == "stage_event":
        facts.stage = _parse_stage(s)
        facts.events = _parse_events(s)
        return facts
    specs = TRACK_SECTIONS[track]
    marks: list[tuple[int, int, str]] = []
    for spec in specs:
        for m in re.finditer(_title_pattern(spec.title), s):
            marks.append((m.start(), m.end(), spec.key))
    if track == "somatic":
        for m in re.finditer(r"thepatient|bodyposition", s):
            marks.append((m.start(), m.start(), "_position"))
    marks.sort()
    by_key = {spec.key: spec for spec in specs}
    for i, (_, end, key) in enumerate(marks):
        body = s[end: marks[i + 1][0] if i + 1 < len(marks) else len(s)]
        if key == "_position":
            facts.position = _parse_position(s[marks[i][0]:])
            continue
        spec = by_key[key]
        vals = {}
        for f in spec.fields:
            v = _field_value(body, f.phrase)
            if v is not None:
                vals[f.key] = v
        trends = []
        if spec.trend_column:
            trends = [Trend(d, float(a), float(b)) for d, a, b in _TREND_RE.findall(body)]
        if vals or trends:
            facts.sections[key] = SectionFacts(vals, trends)
    return facts


def caption_fact_values(texts: list[str], track: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stated values of many captions of one track ``{"track:section.field": [N]}`` (NaN where a caption does not state it) and the stated body
    position (index into :data:`~sleeplm.encoder.vocab.POSITIONS`, -1 when none or unknown) of each caption."""
    facts = [parse_caption(t, track) for t in texts]
    names = sorted({f"{track}:{sec}.{k}" for f in facts for sec, s in f.sections.items() for k in s.values})
    out = {n: np.full(len(texts), np.nan) for n in names}
    pos = np.full(len(texts), -1, dtype=np.int64)
    for i, f in enumerate(facts):
        for sec, s in f.sections.items():
            for k, v in s.values.items():
                out[f"{track}:{sec}.{k}"][i] = v
        if f.position is not None and f.position.position in POSITIONS:
            pos[i] = POSITIONS.index(f.position.position)
    return out, pos


def event_timelines(texts: list[str], event_types: tuple[str, ...], n_patches: int, patch_s: float) -> np.ndarray:
    """float32 ``[N, T, K]`` of stage/event captions: 1 where a patch's centre lies inside an event of that type the
    caption states (types outside ``event_types`` are left out). The event head's training targets and the timelines
    its readings are scored against."""
    y = np.zeros((len(texts), n_patches, len(event_types)), np.float32)
    centres = (np.arange(n_patches) + 0.5) * patch_s
    for i, text in enumerate(texts):
        for ev in parse_caption(text, "stage_event").events:
            if ev.type in event_types:
                y[i, (centres >= ev.start_s) & (centres < ev.end_s), event_types.index(ev.type)] = 1.0
    return y
