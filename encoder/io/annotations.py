"""Read sleep-scoring annotations and normalise stages and events.

Formats:

* **NSRR XML** (``<PSGAnnotation>``: ``ScoredEvent`` with ``EventConcept`` / ``Start`` / ``Duration``);
* **Compumedics Profusion XML** (``<CMPStudyConfig>``: ``ScoredEvent`` with ``Name`` and a
  ``SleepStages`` list of integer codes);
* **EDF+ annotations** (TAL) inside the recording (``Sleep stage W``, ``Sleep stage N2``,
  ``Obstructive Apnea``...);
* **plain hypnograms**: one stage per line, ``#`` comment lines skipped (``W N1 N2 N3 R``, AASM/R&K words, or YASA
  integers 0 W, 1 N1, 2 N2, 3 N3, 4 REM, −1 unscored); a first line ``[Hypnogram]`` marks the
  DREAMS format (R&K integers 5 W, 4 REM, 3 S1, 2 S2, 1 S3, 0 S4, one per 5 s);
* **CSV** with ``onset``, ``duration`` and ``label`` (or ``stage``/``event``) columns, seconds.

Stages normalise to W, N1, N2, N3, REM, UNKNOWN (R&K S3 and S4 → N3). Events normalise to
:data:`~sleeplm.encoder.io.records.EVENT_TYPES`; an apnea of unstated type counts as obstructive
(the source label is kept in ``Event.label``). Labels that are neither are ignored.

Every reader also records, per kind of annotation (stages, respiratory events, desaturations, arousals,
limb movements), who scored it (``Annotations.scoring``): a clinical scoring export (NSRR / Profusion
XML) was scored by a person for every kind; a plain list (EDF+, CSV, hypnogram files) only for the kinds
it mentions, the others are "not scored", never "none".
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from sleeplm.encoder.io.edf_lenient import FEWER_RECORDS
from sleeplm.encoder.io.records import EPOCH_S, Annotations, Event, PSGError, Recording, Scoring
from sleeplm.encoder.vocab import SCORING_KIND_NAMES, SCORING_KINDS

_STAGE_WORDS = {
    "W": "W", "WAKE": "W", "STAGE W": "W", "SLEEP STAGE W": "W", "0": "W",
    "N1": "N1", "S1": "N1", "STAGE 1": "N1", "STAGE 1 SLEEP": "N1", "NREM1": "N1", "SLEEP STAGE 1": "N1",
    "SLEEP STAGE N1": "N1", "1": "N1",
    "N2": "N2", "S2": "N2", "STAGE 2": "N2", "STAGE 2 SLEEP": "N2", "NREM2": "N2", "SLEEP STAGE 2": "N2",
    "SLEEP STAGE N2": "N2", "2": "N2",
    "N3": "N3", "S3": "N3", "S4": "N3", "STAGE 3": "N3", "STAGE 4": "N3", "STAGE 3 SLEEP": "N3",
    "STAGE 4 SLEEP": "N3", "NREM3": "N3", "SLEEP STAGE 3": "N3", "SLEEP STAGE 4": "N3", "SLEEP STAGE N3": "N3",
    "3": "N3",
    "R": "REM", "REM": "REM", "REM SLEEP": "REM", "STAGE R": "REM", "SLEEP STAGE R": "REM", "5": "REM",
    "4": "REM",
}
_UNKNOWN_STAGE = ("?", "UNSCORED", "MOVEMENT", "MT", "ARTEFACT", "ARTIFACT", "SLEEP STAGE ?", "U", "-1", "6", "9")

_EVENT_RULES: tuple[tuple[str, str], ...] = (
    (r"obstructive\s+apn(o)?ea|apn(o)?ea\s*[-(]?\s*obstructive|^oa$", "obstructive_apnea"),
    (r"central\s+apn(o)?ea|apn(o)?ea\s*[-(]?\s*central|^ca$", "central_apnea"),
    (r"mixed\s+apn(o)?ea|apn(o)?ea\s*[-(]?\s*mixed|^ma$", "mixed_apnea"),
    (r"hypopn(o)?ea", "hypopnea"),
    (r"desat", "oxygen_desaturation"),
    (r"arousal|rera", "arousal"),
    (r"limb\s+movement|leg\s+movement|\bplm\b|^lm$", "limb_movement"),
    (r"^apn(o)?ea$", "obstructive_apnea"),
)

#: Annotation file names tried next to a recording ``X.edf``, in order.
SIDECAR_PATTERNS = ("{stem}-nsrr.xml", "{stem}.xml", "{stem}-profusion.xml", "{stem}.edf.xml",
                    "{stem}-hypnogram.txt", "{stem}_hypno.txt", "{stem}.hypno.txt", "{stem}.csv", "{stem}.txt",
                    "Hypnogram_{stem}.txt")


def normalise_stage(label: str, rk_numeric: bool = False) -> str | None:
    """W/N1/N2/N3/REM/UNKNOWN for a stage label; None when the label is not a stage.

    ``rk_numeric`` selects the NSRR/R&K integer reading (4 → N3, 5 → REM) over YASA's (4 → REM).
    """
    s = label.strip().upper()
    if "|" in s:  # NSRR concept "Stage 2 sleep|2"
        s = s.split("|")[0].strip()
    if s in _UNKNOWN_STAGE:
        return "UNKNOWN"
    if rk_numeric and s == "4":
        return "N3"
    return _STAGE_WORDS.get(s)


def normalise_event(label: str) -> str | None:
    """The normalised event type of a scored label, or None when it is not an event we track."""
    s = label.strip().lower()
    if "|" in s:
        s = s.split("|")[0].strip()
    for pattern, kind in _EVENT_RULES:
        if re.search(pattern, s):
            return kind
    return None


def full_export_scoring(ann: Annotations, what: str) -> dict[str, Scoring]:
    """Provenance of a clinical scoring export (NSRR / Profusion XML): every kind was scored by a person.

    A scoring export lists what the scorer found; an empty list of a kind there means none was found.
    Stages count as scored only when the file holds stages.
    """
    out = {kind: Scoring("manual", what) for kind in SCORING_KINDS}
    if not any(s != "UNKNOWN" for s in ann.stages):
        out["stages"] = Scoring("not scored", reason=f"the {what} file holds no scored stages")
    return out


def event_list_scoring(ann: Annotations, what: str) -> dict[str, Scoring]:
    """Provenance of a plain list of annotations (EDF+ TAL, CSV, hypnogram files).

    Such a list says nothing about kinds it does not mention, so a kind counts as scored only when at
    least one of its events is present: an absent kind is "not scored", never "none".
    """
    present = {e.type for e in ann.events}
    out: dict[str, Scoring] = {}
    for kind, types in SCORING_KINDS.items():
        if kind == "stages":
            scored = any(s != "UNKNOWN" for s in ann.stages)
            out[kind] = (Scoring("manual", what) if scored
                         else Scoring("not scored", reason=f"the {what} annotations hold no stages"))
        elif present & set(types):
            out[kind] = Scoring("manual", what)
        else:
            out[kind] = Scoring("not scored", reason=f"the {what} annotations list no {SCORING_KIND_NAMES[kind]}")
    return out


def _with_scoring(ann: Annotations, full_export: bool, what: str) -> Annotations:
    ann.scoring = full_export_scoring(ann, what) if full_export else event_list_scoring(ann, what)
    return ann


#: Longest span of annotations accepted (7 days): a time beyond it is an error in the file.
MAX_ANNOTATION_SPAN_S = 7 * 24 * 3600.0


class _BadAnnotation(ValueError):
    """A value in an annotation file that cannot be right (the reader adds the file's name)."""


def _check_times(items: list[tuple[float, float, str]], epoch_s: float) -> None:
    if not math.isfinite(epoch_s) or epoch_s <= 0:
        raise _BadAnnotation(f"the epoch length is {epoch_s:g} s; it must be a positive number of seconds")
    for onset, duration, label in items:
        if not math.isfinite(onset):
            raise _BadAnnotation(f"'{label}' has no usable start time ({onset}): a Start/onset is missing "
                                 "or not a number")
        if not math.isfinite(duration) or duration < 0:
            raise _BadAnnotation(f"'{label}' at {onset:g} s has a duration of {duration} s; it must be a finite "
                                 "number of seconds, 0 or more")
    if items:
        first = min(o for o, _, _ in items)
        last = max(o + d for o, d, _ in items)
        if last - first > MAX_ANNOTATION_SPAN_S:
            raise _BadAnnotation(f"the annotations span {last - first:.3g} s (from {first:g} s to {last:g} s), "
                                 "more than 7 days: a start time or duration in the file is wrong")


def _stages_from_intervals(
    items: list[tuple[float, float, str]], epoch_s: float
) -> tuple[list[str], float]:
    """Expand (onset_s, duration_s, stage) intervals into one stage per epoch."""
    _check_times(items, epoch_s)
    if not items:
        return [], 0.0
    items = sorted(items)
    start = items[0][0]
    end = max(o + d for o, d, _ in items)
    n = int(round((end - start) / epoch_s))
    stages = ["UNKNOWN"] * n
    for onset, duration, stage in items:
        first = int(round((onset - start) / epoch_s))
        count = max(1, int(round(duration / epoch_s)))
        for k in range(first, min(n, first + count)):
            stages[k] = stage
    return stages, start


def _read_nsrr(root: ET.Element, path: Path) -> Annotations:
    epoch_s = float(root.findtext("EpochLength") or EPOCH_S)
    stage_items, events = [], []
    clock_start_s = None
    for ev in root.iter("ScoredEvent"):
        concept = (ev.findtext("EventConcept") or "").strip()
        etype = (ev.findtext("EventType") or "").strip()
        if clock_start_s is None and concept.lower().startswith("recording start time"):
            clock_start_s = _clock_s(ev.findtext("ClockTime") or "")
        try:
            onset = float(ev.findtext("Start") or "nan")
            duration = float(ev.findtext("Duration") or "0")
        except ValueError as exc:
            raise PSGError(path, f"ScoredEvent {concept!r} has a non-numeric Start/Duration") from exc
        if etype.lower().startswith("stages"):
            stage = normalise_stage(concept, rk_numeric=True)
            if stage is None:
                raise PSGError(path, f"unknown stage concept {concept!r}")
            stage_items.append((onset, duration, stage))
            continue
        kind = normalise_event(concept)
        if kind is None:
            continue
        nadir = ev.findtext("SpO2Nadir")
        events.append(Event(kind, onset, duration, concept, float(nadir) if nadir else None))
    stages, start = _stages_from_intervals(stage_items, epoch_s)
    ann = Annotations("nsrr-xml", path, stages, start, epoch_s, sorted(events, key=lambda e: e.onset_s))
    ann.clock_start_s = clock_start_s
    return _with_scoring(ann, True, "NSRR XML")


def _clock_s(text: str) -> float | None:
    """Seconds after midnight of an NSRR ClockTime ("00.00.00 22.34.00": the last field is the time of day)."""
    m = re.search(r"(\d{1,2})[.:](\d{2})[.:](\d{2})\s*$", text.strip())
    if not m:
        return None
    h, mi, se = (int(g) for g in m.groups())
    return float(h * 3600 + mi * 60 + se) if h < 24 and mi < 60 and se < 60 else None


def _read_profusion(root: ET.Element, path: Path) -> Annotations:
    epoch_s = float(root.findtext("EpochLength") or EPOCH_S)
    stages = []
    for el in root.iter("SleepStage"):
        stages.append(normalise_stage((el.text or "").strip(), rk_numeric=True) or "UNKNOWN")
    events = []
    for ev in root.iter("ScoredEvent"):
        name = (ev.findtext("Name") or "").strip()
        kind = normalise_event(name)
        if kind is None:
            continue
        nadir = ev.findtext("LowestSpO2")
        events.append(Event(kind, float(ev.findtext("Start") or 0), float(ev.findtext("Duration") or 0), name,
                            float(nadir) if nadir else None))
    return _with_scoring(Annotations("profusion-xml", path, stages, 0.0, epoch_s,
                                     sorted(events, key=lambda e: e.onset_s)), True, "Profusion XML")


def _read_xml(path: Path) -> Annotations:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise PSGError(path, f"not a well-formed XML annotation file ({exc})") from exc
    if root.tag == "PSGAnnotation" or root.find("ScoredEvents/ScoredEvent/EventConcept") is not None:
        return _read_nsrr(root, path)
    if root.tag == "CMPStudyConfig" or root.find("SleepStages") is not None:
        return _read_profusion(root, path)
    raise PSGError(path, f"unknown XML annotation format (root element <{root.tag}>)")


def _read_hypnogram_txt(path: Path, epoch_s: float | None) -> Annotations:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise PSGError(path, "empty hypnogram file")
    if lines[0].lower() == "[hypnogram]":  # DREAMS: R&K integers, one per 5 s
        rk = {"5": "W", "4": "REM", "3": "N1", "2": "N2", "1": "N3", "0": "N3"}
        raw = [rk.get(v, "UNKNOWN") for v in lines[1:]]
        per = int(round(EPOCH_S / 5.0))
        stages, mixed = [], 0
        for k in range(0, len(raw) - per + 1, per):
            window = raw[k : k + per]
            stage, n = Counter(window).most_common(1)[0]
            stages.append(stage if n > per // 2 else "UNKNOWN")
            mixed += n < per
        ann = Annotations("hypnogram-dreams", path, stages, 0.0, EPOCH_S)
        ann.notes.append(_rescored_note(5.0, len(stages), mixed, stages.count("UNKNOWN"))
                         + "; R&K S3 and S4 are both read as N3")
        return _with_scoring(ann, False, "DREAMS hypnogram")
    stages = []
    for i, value in enumerate(lines):
        stage = normalise_stage(value)
        if stage is None:
            raise PSGError(path, f"line {i + 1}: {value!r} is not a sleep stage")
        stages.append(stage)
    return _with_scoring(Annotations("hypnogram-txt", path, stages, 0.0, epoch_s or EPOCH_S), False, "hypnogram")


def _read_csv(path: Path) -> Annotations:
    with open(path, newline="", errors="replace") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise PSGError(path, "empty CSV annotation file")
    cols = {c.lower().strip(): c for c in rows[0]}
    label_col = next((cols[c] for c in ("label", "description", "annotation", "stage", "event") if c in cols), None)
    if "onset" not in cols or label_col is None:
        raise PSGError(path, f"CSV needs 'onset' and 'label' columns (has {list(rows[0])})")
    stage_items, events = [], []
    for i, row in enumerate(rows):
        try:
            onset = float(row[cols["onset"]])
            duration = float(row[cols["duration"]]) if "duration" in cols and row[cols["duration"]] else 0.0
        except ValueError as exc:
            raise PSGError(path, f"row {i + 2}: onset/duration is not a number") from exc
        text = row[label_col]
        stage = normalise_stage(text)
        if stage is not None and not text.strip().isdigit():
            stage_items.append((onset, duration or EPOCH_S, stage))
        elif (kind := normalise_event(text)) is not None:
            events.append(Event(kind, onset, duration, text))
    stages, start = _stages_from_intervals(stage_items, EPOCH_S)
    return _with_scoring(Annotations("csv", path, stages, start, EPOCH_S, sorted(events, key=lambda e: e.onset_s)),
                         False, "CSV")


def from_tal(rec: Recording) -> Annotations | None:
    """Annotations from a recording's EDF+ TAL, or None when it holds no stages or events."""
    stage_items, events = [], []
    for onset, duration, text in rec.annotations_tal:
        stage = normalise_stage(text) if text.upper().startswith(("SLEEP STAGE", "STAGE")) else None
        if stage is not None:
            stage_items.append((onset, duration or EPOCH_S, stage))
        elif (kind := normalise_event(text)) is not None:
            events.append(Event(kind, onset, duration, text))
    if not stage_items and not events:
        return None
    try:
        _check_times([(e.onset_s, e.duration_s, e.label) for e in events], EPOCH_S)
        stages, start = _stages_from_intervals(stage_items, EPOCH_S)
    except _BadAnnotation as exc:
        raise PSGError(rec.path, f"EDF+ annotations: {exc}") from exc
    return _with_scoring(Annotations("edf+", rec.path, stages, start, EPOCH_S, sorted(events, key=lambda e: e.onset_s)),
                         False, "EDF+")


def _rescored_note(epoch_s: float, n_epochs: int, mixed: int, unknown: int) -> str:
    """What re-reading stages scored in ``epoch_s``-s steps onto 30-s epochs did, in a scorer's words."""
    return (f"the stages are scored in {epoch_s:g}-s steps; each 30-s epoch takes the stage that covers more than half "
            f"of it: {mixed} of {n_epochs} epochs span more than one stage"
            + (f", and {unknown} have no stage covering more than half (UNKNOWN)" if unknown else ""))


def _on_30s_epochs(ann: Annotations) -> Annotations:
    """Stages scored in epochs of another length (20-s, 60-s) re-read onto 30-s epochs from the same start: each
    30-s epoch takes the stage that covers more than half of it, else UNKNOWN (as the DREAMS 5-s hypnogram is
    read). Copying them one for one would put every stage at the wrong time."""
    if not ann.stages or abs(ann.epoch_s - EPOCH_S) < 1e-6 or not (math.isfinite(ann.epoch_s) and ann.epoch_s > 0):
        return ann  # (an epoch length that is no length is refused by _check_times, naming it)
    src, ep, t0 = ann.stages, ann.epoch_s, ann.stage_onset_s
    out, mixed, no_majority = [], 0, 0
    for k in range(int(len(src) * ep // EPOCH_S)):
        a, b = k * EPOCH_S, (k + 1) * EPOCH_S
        cover: Counter[str] = Counter()
        for i in range(max(0, int(a // ep)), min(len(src), int(math.ceil(b / ep)))):
            overlap = min(b, (i + 1) * ep) - max(a, i * ep)
            if overlap > 0:
                cover[src[i]] += overlap
        stage, covered = cover.most_common(1)[0] if cover else ("UNKNOWN", 0.0)
        out.append(stage if covered > EPOCH_S / 2 else "UNKNOWN")
        mixed += len(cover) > 1
        no_majority += covered <= EPOCH_S / 2
    conf = None  # a per-epoch confidence of the original epochs has no 30-s counterpart
    notes = [*ann.notes, _rescored_note(ep, len(out), mixed, no_majority)]
    return dataclasses.replace(ann, stages=out, stage_onset_s=t0, epoch_s=EPOCH_S, stage_confidence=conf, notes=notes)


def read_annotations(path: str | Path, epoch_s: float | None = None) -> Annotations:
    """Read an annotation file in any supported format (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise PSGError(path, "no such annotation file")
    suffix = path.suffix.lower()
    readers = {".xml": _read_xml, ".csv": _read_csv}
    reader = readers.get(suffix) or (
        (lambda p: _read_hypnogram_txt(p, epoch_s)) if suffix in (".txt", ".hyp", ".hypno", "") else None)
    if reader is None:
        raise PSGError(path, f"unknown annotation format '{suffix}' (expected .xml, .csv or .txt)")
    try:
        ann = _on_30s_epochs(reader(path))
        _check_times([(e.onset_s, e.duration_s, e.label) for e in ann.events], ann.epoch_s)
    except PSGError:
        raise
    except _BadAnnotation as exc:
        raise PSGError(path, str(exc)) from exc
    except csv.Error as exc:
        raise PSGError(path, f"not a readable CSV annotation file ({exc}; a field over "
                             f"{csv.field_size_limit() // 1024} kB usually means a binary or mis-quoted file)") from exc
    except UnicodeDecodeError as exc:
        raise PSGError(path, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at {exc.start})") from exc
    except (ValueError, OverflowError) as exc:
        raise PSGError(path, f"a number in the file cannot be read ({exc})") from exc
    return ann


def find_annotations(edf_path: str | Path) -> Path | None:
    """The annotation file beside a recording (see :data:`SIDECAR_PATTERNS`), or None."""
    edf_path = Path(edf_path)
    for pattern in SIDECAR_PATTERNS:
        candidate = edf_path.with_name(pattern.format(stem=edf_path.stem))
        try:
            found = candidate.is_file()
        except OSError:  # e.g. the sidecar's name would be too long for the file system
            continue
        if found and candidate != edf_path:
            return candidate
    return None


def tidy_events(ann: Annotations, rec: Recording) -> Annotations:
    """The annotations with what cannot be an event's value set right, each change said in ``rec.warnings``: an
    event listed twice with the same type, start and duration is kept once (counted twice it inflates the AHI), an
    SpO2 nadir outside 0–100 % is unknown, and an event lasting more than an epoch beyond the recording's end is
    cut at the end (a 5-h "apnea" in a 30-min file otherwise counts 5 h of event time)."""
    seen: set[tuple[str, float, float]] = set()
    events, dupes, bad_nadir, cut = [], [], [], []
    for e in ann.events:
        if rec.duration_s > 0 and e.onset_s + e.duration_s > rec.duration_s + EPOCH_S:
            cut.append(e)
            e = dataclasses.replace(e, duration_s=max(rec.duration_s - e.onset_s, 0.0))
        key = (e.type, round(e.onset_s, 3), round(e.duration_s, 3))
        if key in seen:
            dupes.append(e)
            continue
        seen.add(key)
        if e.spo2_nadir is not None and not (0.0 < e.spo2_nadir <= 100.0):
            bad_nadir.append(e)
            e = dataclasses.replace(e, spo2_nadir=None)
        events.append(e)
    where = ann.path.name if ann.path else "the annotations"
    if dupes:
        rec.warnings.append(f"{where}: {len(dupes)} event(s) listed twice with the same type, start and duration "
                            f"(first: {dupes[0].type.replace('_', ' ')} at {dupes[0].onset_s:g} s) were kept once")
    if bad_nadir:
        rec.warnings.append(f"{where}: {len(bad_nadir)} SpO2 nadir(s) outside 0–100 % (first: {bad_nadir[0].spo2_nadir:g} "
                            f"at {bad_nadir[0].onset_s:g} s) were taken as unknown")
    if cut:
        rec.warnings.append(f"{where}: {len(cut)} event(s) last beyond the end of the recording ({rec.duration_s:g} s; "
                            f"first: {cut[0].type.replace('_', ' ')} at {cut[0].onset_s:g} s lasting "
                            f"{cut[0].duration_s:g} s) and were cut at its end")
    return dataclasses.replace(ann, events=events) if dupes or bad_nadir or cut else ann


def clock_warning(ann: Annotations, rec: Recording, tolerance_s: float = 60.0) -> str | None:
    """A sentence when the annotation file states another start clock than the recording's (more than
    ``tolerance_s`` apart, across midnight too): perhaps another recording's annotations. None when they agree or
    either clock is unknown."""
    if ann.clock_start_s is None or rec.start_time is None:
        return None
    edf_s = rec.start_time.hour * 3600 + rec.start_time.minute * 60 + rec.start_time.second
    apart = abs(edf_s - ann.clock_start_s) % 86400
    apart = min(apart, 86400 - apart)
    if apart <= tolerance_s:
        return None
    h, m, s = int(ann.clock_start_s // 3600), int(ann.clock_start_s % 3600 // 60), int(ann.clock_start_s % 60)
    where = ann.path.name if ann.path else "the annotations"
    return (f"{where} says the recording started at {h:02d}:{m:02d}:{s:02d} but {rec.path.name} starts at "
            f"{rec.start_time:%H:%M:%S} ({apart / 60:.0f} min apart): are these another recording's annotations? "
            "Stages and events were placed by their times from the start of the file")


def check_against(ann: Annotations, rec: Recording, tolerance_s: float = EPOCH_S) -> None:
    """Raise PSGError when annotations do not fit the recording they are paired with."""
    stage_end = ann.stage_onset_s + len(ann.stages) * ann.epoch_s
    where = f"{ann.path or rec.path}"
    if ann.stages and ann.stage_onset_s < -1e-6:
        raise PSGError(where, f"the stages begin at {ann.stage_onset_s:g} s, before the recording {rec.path.name} "
                              "starts: annotations do not match the recording")
    early = [e for e in ann.events if e.onset_s < -tolerance_s]
    if early:
        raise PSGError(where, f"{len(early)} events start before the recording {rec.path.name}, first at "
                              f"{early[0].onset_s:.0f} s: annotations do not match the recording")
    short = next((r for r in rec.repairs if r.startswith(FEWER_RECORDS) and not r.startswith(f"{FEWER_RECORDS} -")),
                 None)  # (a count of -1 is unknown, not a cut-short file)
    verdict = (f"the recording file looks truncated ({short}), so the annotations may be right and {rec.path.name} "
               "incomplete" if short else "annotations do not match the recording")
    if ann.stages and stage_end > rec.duration_s + tolerance_s:
        raise PSGError(
            rec.path if short else where,
            f"stages{f' in {Path(where).name}' if short else ''} cover {stage_end:.0f} s but the recording "
            f"{rec.path.name} lasts {rec.duration_s:.0f} s: {verdict}",
        )
    late = [e for e in ann.events if e.onset_s > rec.duration_s + tolerance_s]
    if late:
        raise PSGError(
            rec.path if short else where,
            f"{len(late)} events{f' in {Path(where).name}' if short else ''} start after the end of {rec.path.name} "
            f"({rec.duration_s:.0f} s), first at {late[0].onset_s:.0f} s: {verdict}",
        )
