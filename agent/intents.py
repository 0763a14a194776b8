"""Read a researcher's question: what it names (nights, epochs, clock times, stages, events,
phenotypes, metrics, groupings) and which tool answers it, with which arguments.

Deterministic rules, tried in order; "this night", "like this one", "that epoch", "next epoch"
and bare follow-ups ("what about epoch 12?") resolve against the conversation's
:class:`Context` (current night / epoch and the last tool used).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sleeplm.encoder.vocab import APNEAS
from sleeplm.index.querytext import parse_query

from .vocab import (
    SCORING_OF_NIGHT,
    SCORING_QUESTION,
    CohortNames,
    find_groups,
    find_metrics,
    find_sexes,
    find_tracks,
)
from .windows import CLOCK_TOKEN, clock_hhmm

EPOCH_TOOLS = ("show_epoch", "caption_epochs", "similar_epochs")
#: Search arguments that select epochs by a stored per-epoch value (not by the model).
FEATURE_FILTERS = ("spo2_max_pct", "hr_min_bpm", "hr_max_bpm")
NIGHT_TOOLS = ("describe_night", "similar_nights", "localize_events", "model_fit", "recording_info")

HELP = (
    "I answer questions about this cohort's nights with tools over the workspace. Try:\n"
    "- *how many nights are there?* · *list the nights*\n"
    "- *describe sim-0001* · *what is the AHI of sim-0002?*\n"
    "- *show epoch 10 of sim-0001* · *caption epoch 5* · *what happens at 02:30?*\n"
    "- *where are the hypopneas in sim-0002?* · *find epochs like obstructive apnea in REM*\n"
    "- *find nights like this one* · *compare AHI by phenotype* · *stage distribution by sex*\n"
    "- *which night has the highest AHI? show me its hypnogram* · *is sleep efficiency lower in women than in men?*\n"
    "- *average heart rate during N2 across the cohort* · *which nights have an AHI above 15?* · "
    "*does AHI increase with age?*"
)

_RE_EPOCH = re.compile(r"\bepochs?\s*(?:number|no\.?|#)?\s*(\d+)(?:\s*(?:-|–|to|through|until)\s*(?:epoch\s*)?(\d+))?")
_RE_CLOCK = re.compile(r"\b(\d{1,2}[:h]\d{2}(?::\d{2})?(?:\s*[ap]m)?)")
_RE_AT_CLOCK = re.compile(rf"\b(?:at|around|about|near)\s+(?:about\s+)?{CLOCK_TOKEN}")
_RE_LIKE_REC = re.compile(r"\b([a-z][a-z0-9]*[-_]\d[a-z0-9_-]*)\b")
_RE_SUBJECT = re.compile(r"\b(s\d{3,})\b")
_RE_K = re.compile(r"\b(?:top|first|best)\s+(\d+)\b|\b(\d+)\s+(?:epochs|nights|examples|results|matches|hits)\b")
_THIS_NIGHT = re.compile(r"\b(this|that|the same|current) (night|recording|one|patient|subject|study)\b|"
                         r"\blike (this|it)\b|\b(it|its)\b")
_EVERY_NIGHT = (r"(?<!with )(?<!to )(?<!than )(?<!against )(?<!versus )\b(every|each|all( of)?( the)?) "
                r"(nights?|recordings?|patients?|subjects?|studies|excerpts?)\b|\bper (night|recording|patient|subject)\b")
_THIS_EPOCH = re.compile(r"\b(this|that|the same|current) epoch\b|\b(next|previous|prior|following) epoch\b")


@dataclass
class Context:
    """What the conversation is about before this question."""

    recording: str | None = None
    epoch: int | None = None
    last_tool: str | None = None
    last_args: dict[str, Any] = field(default_factory=dict)
    #: (recording, epoch index or None) of the latest list of results (search, similar epochs or nights), in order
    last_hits: list[tuple[str, int | None]] = field(default_factory=list)
    #: The nights the latest cohort query listed, counted or ranked, in its order ("those nights", "the first one")
    last_nights: list[str] = field(default_factory=list)
    #: Whether an older turn (before the one just before) listed nights: "their" then cannot mean the whole cohort
    earlier_nights: bool = False


@dataclass
class Parsed:
    """Everything a question names."""

    text: str
    recordings: list[str] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    clocks: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    phenotypes: list[str] = field(default_factory=list)
    sexes: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    tracks: list[str] = field(default_factory=list)
    k: int | None = None
    this_night: bool = False
    this_epoch: bool = False
    epoch_step: int = 0  # +1 next epoch, -1 previous epoch

    def has(self, *patterns: str) -> bool:
        return any(re.search(p, self.text) for p in patterns)


@dataclass
class Plan:
    """A tool call to make, or a direct answer."""

    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


def parse(question: str, names: CohortNames) -> Parsed:
    """What a question names (recording names and subject ids resolved with ``names``)."""
    t = question.lower().strip()
    p = Parsed(text=t)
    known = {r.lower(): r for r in names.recordings}
    subjects = {s.lower(): recs for s, recs in names.subjects.items()}
    for m in re.finditer(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]", t):
        tok = m.group(0)
        if tok in known and known[tok] not in p.recordings:
            p.recordings.append(known[tok])
        elif tok in subjects and subjects[tok] and subjects[tok][0] not in p.recordings:
            p.recordings.append(subjects[tok][0])
    if not p.recordings:  # a name written another way: "sim 4", "sim4", "sim_0004" for sim-0004
        keys = {k: r for r in names.recordings if (k := name_key(r))}
        for m in re.finditer(r"\b([a-z]+)[\s_-]?0*(\d+)\b", t):
            name = keys.get(f"{m.group(1)}{int(m.group(2))}")
            if name and name not in p.recordings:
                p.recordings.append(name)
    if not p.recordings:  # something that looks like a name: passed on, the tool says if it is unknown
        for rx in (_RE_LIKE_REC, _RE_SUBJECT):
            for m in rx.finditer(t):
                if not re.fullmatch(r"(n|s|stage)[-_]?\d", m.group(1)) and m.group(1) not in p.recordings:
                    p.recordings.append(m.group(1))
        # a name in the cohort's own pattern that no night has ("excerpt3" where excerpt1, excerpt2 … exist)
        prefixes = {k.rstrip("0123456789") for r in names.recordings if (k := name_key(r))} - {"n", "s", "stage"}
        for m in re.finditer(r"\b([a-z]+)[_-]?\d+\b", t):
            if m.group(1) in prefixes and m.group(0) not in p.recordings:
                p.recordings.append(m.group(0))
    for m in _RE_EPOCH.finditer(t):
        if re.match(r"\s*(minutes?|mins?|hours?|hrs?|h|seconds?|secs?|s)\b", t[m.end(1):]):
            continue  # "the epoch 10 minutes into sim-0002": a time, not epoch 10
        p.epochs.append(int(m.group(1)))
        if m.group(2):
            p.epochs.append(int(m.group(2)))
    into = re.search(r"\b(\d+(?:\.\d+)?)\s*(minutes?|mins?|hours?|hrs?|h|seconds?|secs?|s)\s+(into|after the start of|"
                     r"from the start of|after the beginning of)\b", t)
    if not p.epochs and into and re.search(r"\bepoch\b", t):  # "the epoch 10 minutes into the night": epoch 20
        unit = into.group(2)
        seconds = float(into.group(1)) * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)
        p.epochs.append(int(seconds // 30))
    nth = re.search(r"\bthe (\d+)(?:st|nd|rd|th) epoch\b", t)
    if not p.epochs and nth and int(nth.group(1)) >= 1:  # "the 100th epoch": epoch 99, counting from 0
        p.epochs.append(int(nth.group(1)) - 1)
    if not p.epochs and not re.search(r"\b(second|third|next)[- ]to[- ](the )?last\b|\bpenultimate\b", t):
        m = re.search(r"\b(first|last|final) epoch\b", t)  # "its first epoch", "the last epoch" (-1: the night's last)
        if m:
            p.epochs.append(0 if m.group(1) == "first" else -1)
    p.clocks = [c.replace("h", ":") for c in _RE_CLOCK.findall(t)]
    if not p.clocks:  # a moment said the usual way: "at 3 am", "around midnight", "at 11 pm"
        p.clocks = [hhmm for tok in _RE_AT_CLOCK.findall(t) if (hhmm := clock_hhmm(tok))]
    terms = parse_query(t)
    p.stages, p.events = terms.stages, terms.events
    p.phenotypes = names.find_phenotypes(t)
    p.sites = names.find_sites(t)
    p.sexes = find_sexes(t)
    p.metrics = find_metrics(t)
    p.groups = find_groups(t)
    p.tracks = find_tracks(t)
    m = _RE_K.search(t)
    if m:
        p.k = int(m.group(1) or m.group(2))
    # "list every night with its AHI": "its" is each night's, not the night in focus
    p.this_night = bool(_THIS_NIGHT.search(t)) and not re.search(_EVERY_NIGHT, t)
    p.this_epoch = bool(_THIS_EPOCH.search(t))
    p.epoch_step = 1 if re.search(r"\b(next|following) epoch", t) else -1 if re.search(r"\b(previous|prior) epoch", t) else 0
    return p


def name_key(name: str) -> str | None:
    """A recording name's letters and number ("sim-0004" -> "sim4"), to read it written another way."""
    m = re.fullmatch(r"([a-z]+)[\s_-]*0*(\d+)", name.lower())
    return f"{m.group(1)}{int(m.group(2))}" if m else None


def _night(p: Parsed, ctx: Context) -> str | None:
    return p.recordings[0] if p.recordings else ctx.recording


def _epoch_args(p: Parsed, ctx: Context) -> dict[str, Any]:
    args: dict[str, Any] = {"recording": _night(p, ctx)}
    if p.epochs:
        args["epoch"] = p.epochs[0]
    elif p.clocks:
        args["clock_time"] = p.clocks[0]
    elif ctx.epoch is not None and (not p.recordings or p.recordings[0] == ctx.recording):
        args["epoch"] = max(ctx.epoch + p.epoch_step, 0)
    return args


def _has_epoch_ref(p: Parsed) -> bool:
    return bool(p.epochs or p.clocks or p.this_epoch)


def _describe(p: Parsed) -> str:
    """The event/stage phrase of a question, in words ("obstructive apnea in REM")."""
    events = p.events
    if re.search(r"\bapn(o)?eas?\b", p.text) and not re.search(r"\b(obstructive|central|mixed)\b", p.text):
        events = ["apnea" if e == "obstructive_apnea" else e for e in events]  # any apnea, as the question says
    words = " and ".join(e.replace("_", " ") for e in events)
    if p.stages:
        named = " or ".join("wake" if st == "W" else st for st in p.stages)
        words = f"{words} in {named}" if words else (named if p.stages == ["W"] else f"{named} sleep")
    return words


def _search_text(p: Parsed, question: str) -> str:
    text = re.sub(r"^\s*(please\s+)?(can you\s+)?(find|search( for)?|show( me)?|look for|give me|list|get)\s+"
                  r"(some\s+|the\s+|all\s+)?(epochs?|examples?|segments?|moments?)?\s*"
                  r"(that\s+(look|looks)\s+like|like|with|of|showing|containing|that show|where)?\s*", "",
                  question.strip(), flags=re.IGNORECASE)
    for r in p.recordings:
        text = re.sub(rf"\s*\b(in|from|of)?\s*{re.escape(r)}\b", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^(that are |which are )?(scored|staged|label+ed|annotated)\s+(as\s+)?", "", text.strip(" ?.!"),
                  flags=re.IGNORECASE)  # "epochs scored REM": the stage is a filter; "REM" orders them
    return text or _describe(p) or question


def _named_phenotypes(p: Parsed) -> list[str]:
    """Phenotypes the question filters on: a phenotype whose words are also the event asked for
    ("central apnea") counts only when followed by patients / subjects / phenotype / group."""
    events = " ".join(e.replace("_", " ") for e in p.events)
    return [ph for ph in p.phenotypes if ph.replace("_", " ") not in events
            or re.search(rf"{ph.replace('_', '.')}\s+(patients|subjects|phenotype|group|nights)", p.text)]


def _filters(p: Parsed) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.recordings:
        out["recordings"] = p.recordings
    phenotypes = _named_phenotypes(p)
    if phenotypes:
        out["phenotype"] = phenotypes
    if p.sexes:
        out["sex"] = p.sexes
    if p.sites:
        out["site"] = p.sites
    hr = r"\b(heart rate|hr|pulse)\s*(is |was |of )?"
    m = re.search(hr + r"(above|over|greater than|more than|higher than|>)\s*(\d{2,3}(\.\d+)?)", p.text)
    if m:
        out["hr_min_bpm"] = float(m.group(4))
    m = re.search(hr + r"(below|under|less than|lower than|<)\s*(\d{2,3}(\.\d+)?)", p.text)
    if m:
        out["hr_max_bpm"] = float(m.group(4))
    m = re.search(r"\b(spo2|saturation|oxygen)\b[a-z ]{0,20}?(below|under|less than|lower than|<|drops? (below|to|under))\s*"
                  r"(\d{2,3}(\.\d+)?)", p.text)
    if m:
        out["spo2_max_pct"] = float(m.group(4))
    # an age: "older than 60", "aged over 60", "over 60 years", "patients over 60" -- not "above 90 bpm"
    unit = r"(?!\s*(bpm|%|percent|per|/|events|min|beats))"
    m = re.search(rf"\b(older than|aged over|age over|age above)\s+(\d{{2}})\b{unit}", p.text) or \
        re.search(rf"\b(patients|subjects|people|men|women) (over|above)\s+(\d{{2}})\b{unit}", p.text) or \
        re.search(r"\b(over|above)\s+(\d{2})\s*(years|y\b|yo\b)", p.text)
    if m:
        out["age_min"] = float(next(g for g in m.groups() if g and g.isdigit()))
    m = re.search(rf"\b(younger than|aged under|age under|age below)\s+(\d{{2}})\b{unit}", p.text) or \
        re.search(rf"\b(patients|subjects|people|men|women) (under|below)\s+(\d{{2}})\b{unit}", p.text) or \
        re.search(r"\b(under|below)\s+(\d{2})\s*(years|y\b|yo\b)", p.text)
    if m:
        out["age_max"] = float(next(g for g in m.groups() if g and g.isdigit()))
    return out


def _epoch_event_types(p: Parsed) -> list[str]:
    """The event types an epoch count means: "an apnea" with no type named is any apnea (obstructive, central or
    mixed), as a sleep physician counts apneas; the search vocabulary reads it as obstructive."""
    if re.search(r"\bapn(o)?eas?\b", p.text) and not re.search(r"\b(obstructive|central|mixed)\b", p.text):
        return list(dict.fromkeys(t for e in p.events for t in (APNEAS if e == "obstructive_apnea" else (e,))))
    return p.events


def _stages_named_as_filter(p: Parsed) -> list[str]:
    """Stages a search restricts to: "during N2", "in REM", "in deep sleep", and any stage asked for as scored
    ("epochs scored REM", "staged as N3"); not a stage that is the thing searched for, as in "find REM sleep"
    (the model's text search, checked against the scored stages)."""
    out = []
    for stage in p.stages:
        word = {"W": r"wake|awake|w", "N1": r"n1|stage 1", "N2": r"n2|stage 2|light sleep",
                "N3": r"n3|deep sleep|slow[- ]wave sleep|stage 3", "REM": r"rem"}[stage]
        if re.search(rf"\b(during|in|within|while in)\s+(the\s+)?({word})\b", p.text) and (p.events or len(p.stages) > 1):
            out.append(stage)
        elif re.search(rf"\b(scored|staged|label+ed|annotated)\s+(as\s+)?({word})\b", p.text):
            out.append(stage)
    return out


def route(question: str, names: CohortNames, ctx: Context) -> Plan:
    """The tool call (or direct answer) for a question, given the conversation so far."""
    p = parse(question, names)
    t = p.text
    by = p.groups[0] if p.groups else None

    if not t or p.has(r"^(help|hi|hello|hey)\b", r"what can you do", r"how do i use"):
        return Plan(text=HELP)
    if p.has(r"\bstage\b") and p.has(r"according to the model", r"\bthe model'?s? (stage|staging|think|say|call|give)",
                                      r"\bdoes the model (think|say|call|give|stage)", r"\bmodel[- ]predicted stage"):
        return Plan(text="**I can't answer that from this cohort:** the chat shows an epoch's *scored* stage; the "
                         "model's own stage for an epoch is not one of its tools. How well the model stages is "
                         "measured by `sleeplm eval` (zero-shot staging against the scored stages), and the "
                         "model's reading of an epoch is in its captions: *caption epoch 100 of sim-0001*.")
    nth = re.search(r"\b(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|top|last)\s+(one|hit|result|match|night)\b", t)
    if nth and ctx.last_hits and not p.recordings:  # "show the second one" after a list of results: that result
        words = ("first", "second", "third", "fourth", "fifth")
        w = nth.group(1)
        i = -1 if w == "last" else 0 if w == "top" else words.index(w) if w in words else int(w[0]) - 1
        if i >= len(ctx.last_hits):
            return Plan(text=f"The last list had {len(ctx.last_hits)} result(s); there is no {w} one.")
        rec, ep = ctx.last_hits[i]
        if ep is None or p.has(r"\bdescribe\b", r"\bhypnogram\b", r"\bnight\b"):
            return Plan("describe_night", {"recording": rec})
        if p.has(r"\bcaption", r"what happen", r"\bexplain\b", r"\binterpret"):
            return Plan("caption_epochs", {"recording": rec, "epoch": ep})
        if p.has(r"\bsimilar\b", r"\blike\b"):
            return Plan("similar_epochs", {"recording": rec, "epoch": ep})
        return Plan("show_epoch", {"recording": rec, "epoch": ep})
    if re.search(SCORING_QUESTION, t) and (not p.recordings or re.search(SCORING_OF_NIGHT, t)):
        # "who scored sim-0005?": its row is there
        return Plan("cohort_stats", {"question": "scoring"})
    if p.has(r"how many (nights|recordings|subjects|patients|studies|people)", r"number of (nights|recordings)",
             r"count (the )?(nights|recordings)"):
        if not _bare_cohort_question(p):  # "how many patients are obese?": not the cohort's size
            return _not_understood(p, ctx, "a count of nights")
        return Plan("cohort_stats", {"question": "count_nights", **({"by": by} if by else {})})
    if p.has(r"how many (\w+ ){0,2}epochs", r"number of (\w+ ){0,2}epochs", r"count (the )?(\w+ )?epochs"):
        kinds = {"apnea" if e in APNEAS else e for e in p.events}
        if len(kinds) > 1 and p.has(r"\bboth\b", r"\b(apn\w*|hypopn\w*|desat\w*|arousals?|movements?)\s+"
                                                  r"(and|with|plus|together with|followed by|as well as)\s"):
            return Plan(text="**I can't answer that from this cohort:** I count epochs that overlap *any* of the "
                             "events named, not epochs that hold all of them at once, and answering the first would "
                             "answer another question.\n\nNearest question I can answer: *how many epochs overlap "
                             "an apnea or a desaturation?*")
        args: dict[str, Any] = {"question": "count_epochs", **_filters(p)}
        args.update({"stages": p.stages} if p.stages else {})
        args.update({"event_types": _epoch_event_types(p)} if p.events else {})
        return Plan("cohort_stats", {**args, **({"by": by} if by else {})})
    if p.has(r"stage distribution", r"distribution of (sleep )?stages", r"time in (each )?stages?",
             r"stage (percent|proportion|breakdown)", r"sleep architecture"):
        if by:
            return Plan("cohort_stats", {"question": "stage_distribution", "by": by, **_filters(p)})
        night = _night(p, ctx) if (p.recordings or p.this_night) else None
        if night:
            return Plan("cohort_stats", {"question": "stage_distribution", **_filters(p), "by": "recording",
                                         "recordings": [night]})
        return Plan("cohort_stats", {"question": "stage_distribution", "by": "phenotype", **_filters(p)})
    if p.has(r"event counts?", r"events (by|per|across)", r"number of events", r"how many events") and \
            not p.recordings and not p.this_night:
        return Plan("cohort_stats", {"question": "event_counts", "by": by or "phenotype", **_filters(p)})
    if p.metrics and (by or p.has(r"\bcompare\b", r"\bacross\b", r"\baverage\b", r"\bmean\b", r"which (phenotype|group|sex|site)")) \
            and not p.recordings and not p.this_night:
        return Plan("cohort_stats", {"question": "compare_metric", "metric": p.metrics[0], "by": by or "phenotype"})
    if p.has(r"hypnogram") and (p.recordings or p.this_night) and not p.metrics:
        return Plan("describe_night", {"recording": _night(p, ctx)})
    if p.has(r"\b(least|less|most dis|not) ?similar\b", r"\bdissimilar\b", r"\bmost different\b", r"\bunlike\b"):
        return Plan(text="**I can't answer that from this cohort:** I find the nights and epochs *most* like one, "
                         "not the least like it, and the most similar ones would answer another question.\n\n"
                         "Nearest question I can answer: *find nights like sim-0001*")
    if len(dict.fromkeys(p.recordings)) > 1 and (_has_epoch_ref(p) or p.has(r"\bcaption", r"\bsignals?\b")):
        return Plan(text=f"**One night at a time, please:** epochs and captions are shown for one night per "
                         f"question, and this one names {', '.join(p.recordings)}; answering for the first alone would "
                         "drop the others.")
    similar = p.has(r"\bsimilar\b", r"\blike\b", r"\bresembl", r"\bclosest\b", r"\bmatch(es|ing)?\b")
    if similar and (p.has(r"\bnights?\b", r"\brecordings?\b", r"\bpatients?\b", r"\bsubjects?\b", r"like this one",
                          r"like (it|this)\b") and not p.has(r"\bepochs?\b")):
        return Plan("similar_nights", {"recording": _night(p, ctx), **({"k": p.k} if p.k else {})})
    if similar and p.has(r"\bepochs?\b") and _has_epoch_ref(p) and not p.events:
        other = p.has(r"\bother (nights|recordings)\b", r"\bexclud\w* (this|that|the same|its)", r"\bnot (from )?(this|the same)",
                      r"\bdifferent (nights?|recordings?)\b") or bool(
            p.recordings and re.search(rf"\b(excluding|except|not (in|from)|other than)\s+{re.escape(p.recordings[0].lower())}", p.text))
        return Plan("similar_epochs", {**_epoch_args(p, ctx), **({"k": p.k} if p.k else {}),
                                       **({"other_nights_only": True} if other else {})})
    measured = {k: v for k, v in _filters(p).items() if k in FEATURE_FILTERS}
    if measured and p.has(r"\bwhere\b", r"\bwhen\b", r"\bwhich epochs\b", r"\bwhat epochs\b", r"what times?\b"):
        # "where does SpO2 drop below 85 % in sim-0002?": the epochs the stored per-epoch values select, up to 20
        stages = _stages_named_as_filter(p)
        return Plan("search_epochs", {"description": _search_text(p, question), **_filters(p),
                                      **({"stages": stages} if stages else {}), "k": p.k or 20, "in_time_order": True})
    if (p.events or p.stages) and (p.recordings or p.this_night or ctx.recording) and \
            (p.has(r"\bwhere\b", r"\bwhen\b", r"\blocat", r"\blocali[sz]", r"what time", r"\bspot\b") or
             (bool(p.events) and p.has(r"^\s*(please\s+)?(list|show|display|mark|give|find)( me)?( all)?( of)? (the|all|every)\b")
              and not p.has(r"\bhow many\b", r"\bcount\b", r"\bnumber of\b", r"\blike\b", r"\bsimilar\b"))) and \
            not _has_epoch_ref(p) and not p.has(r"\bepochs? (where|when)\b"):
        return Plan("localize_events", {"description": _describe(p), "recording": _night(p, ctx)})
    if _has_epoch_ref(p) and p.has(r"caption", r"what happen", r"what('s| is) (going on|happening)", r"explain",
                                   r"\bdescribe\b.*\bepoch", r"interpret"):
        args = _epoch_args(p, ctx)
        if len(p.epochs) > 1:
            args["end_epoch"] = p.epochs[1]
        elif len(p.clocks) > 1:
            args["end_clock_time"] = p.clocks[1]
        if p.tracks:
            args["tracks"] = p.tracks
        return Plan("caption_epochs", args)
    if p.has(r"\bcaption") and (ctx.epoch is not None or p.recordings):
        return Plan("caption_epochs", _epoch_args(p, ctx))
    if _has_epoch_ref(p) and p.has(r"\bshow\b", r"\bplot\b", r"\bdisplay\b", r"\bsignals?\b", r"\bview\b", r"\bsee\b",
                                   r"\bopen\b", r"\blook at\b"):
        return Plan("show_epoch", _epoch_args(p, ctx))
    if p.has(r"\b(second|third|next)[- ]to[- ](the )?last\b", r"\bpenultimate\b", r"\bmiddle epoch\b"):
        return Plan(text="**I did not understand which epoch.** I read an epoch by its index (0 is the first, -1 the "
                         "last: *show epoch 238 of sim-0002*), by a clock time (*what happens at 23:40?*) or by a time "
                         "into the night (*the epoch 10 minutes into sim-0002*).")
    if p.has(r"\bfind\b", r"\bsearch\b", r"\bshow me\b", r"\blook for\b", r"\bexamples?\b", r"\bepochs? (with|of|like|showing)\b",
             r"\bwhich epochs\b", r"\bretriev") and not (_has_epoch_ref(p) and not p.has(
                 r"\bfind\b", r"\bsearch\b", r"\blook for\b", r"\bexamples?\b", r"\bwhich epochs\b")):
        stages = _stages_named_as_filter(p)
        return Plan("search_epochs", {"description": _search_text(p, question), **_filters(p),
                                      **({"stages": stages} if stages else {}), **({"k": p.k} if p.k else {})})
    if p.has(r"training (data|distribution|set)", r"out[- ]of[- ]distribution", r"\bood\b", r"in[- ]distribution",
             r"\bconfident\b", r"\btrust (the model|it|its)", r"\bout of (its|the model's) depth",
             r"\b(model|it) (is )?(reliable|extrapolat)", r"\b(how well )?(does|do|did) the model (fit|cope with|handle|know)\b",
             r"\bmodel fit\b") and (p.recordings or p.this_night or ctx.recording):
        return Plan("model_fit", {"recording": _night(p, ctx)})
    if ctx.epoch is not None and not p.recordings and not p.epochs and \
            p.has(r"\bwhat stage\b", r"\bwhich stage\b", r"\bstage is (it|this|that)\b"):
        return Plan("show_epoch", _epoch_args(p, ctx))  # "what stage is it?" after an epoch: that epoch
    if _has_epoch_ref(p) and (p.recordings or ctx.recording) and \
            p.has(r"\bwhat stage\b", r"\bwhich stage\b", r"\bwhat sleep stage\b"):
        return Plan("show_epoch", _epoch_args(p, ctx))  # "what stage is sim-0001 in at its first epoch?"
    if _has_epoch_ref(p) and (p.recordings or ctx.recording) and p.has(
            r"\bheart ?rate\b", r"\bhr\b", r"\bpulse\b", r"\bbpm\b", r"\bspo2\b", r"\bsaturation\b", r"\boxygen\b"):
        return Plan("show_epoch", _epoch_args(p, ctx))  # "the heart rate at epoch 2": that epoch's measured values
    if p.metrics and (p.recordings or p.this_night or ctx.recording):
        return Plan("describe_night", {"recording": _night(p, ctx), "metrics": p.metrics, "plot": False})
    if p.recordings and p.has(r"how many", r"number of") and p.events:
        return Plan("describe_night", {"recording": p.recordings[0], "plot": False})
    many = p.has(r"\b(which|what|any|all( the)?|list( the)?) (nights|recordings|subjects|patients|studies)\b",
                 r"\b(the|this|whole) (cohort|dataset|study|workspace)\b",
                 r"\b(of|all|every|these) (the )?(nights|recordings|subjects|patients)\b")
    if many and not p.recordings and p.has(r"\bsummar", r"\boverview\b", r"\bdescribe\b"):
        return Plan("cohort_stats", {"question": "list_nights"})  # "a summary of the cohort": every night's row
    if p.has(r"\bdescribe\b", r"\bsummar", r"\boverview\b", r"tell me about", r"how did .* sleep", r"\breport\b",
             r"hypnogram") and (p.recordings or p.this_night or ctx.recording and not many):
        return Plan("describe_night", {"recording": _night(p, ctx)})
    if p.has(r"\blist\b", r"which nights", r"all (the )?nights", r"show (me )?(the )?nights", r"what nights",
             r"(what|which) (recordings|subjects|patients|studies)\b"):
        if not _bare_cohort_question(p):  # "which nights have severe sleep apnea?": not every night
            return _not_understood(p, ctx, "a list of nights")
        return Plan("cohort_stats", {"question": "list_nights"})
    return _follow_up(p, ctx)


#: Words a bare follow-up about another night may hold besides its name ("and what about sim-0003?").
_FOLLOW_UP_WORDS = frozenset(
    "and what about how for the same then ok okay now please also this that one night recording subject patient "
    "of is was it with in on as well too do let's lets see tell me show describe same question epoch epochs at "
    "around next previous following prior to through until am pm midnight noon first last final its current "
    "study".split())
#: Words naming scored events, for a bare follow-up that swaps the event kind ("and hypopneas?").
_EVENT_FOLLOW_UP_WORDS = frozenset(
    "apnea apneas apnoea apnoeas hypopnea hypopneas hypopnoea hypopnoeas arousal arousals desaturation desaturations "
    "oxygen obstructive central mixed limb leg movement movements events how many number the".split())


#: Words a question for the cohort's size or its list of nights may hold ("how many nights per phenotype are there?").
_COHORT_WORDS = frozenset(
    "how many number of count the a an nights night recordings recording subjects subject patients patient studies "
    "people are is there in this cohort workspace dataset study do we have you got total altogether all list show me "
    "which what per by each phenotype phenotypes sex gender site sites age band bands group groups were was recorded "
    "ingested stored please give see display available sorted name names their and with in it".split())


def _bare_cohort_question(p: Parsed) -> bool:
    """Whether a count / list question asks only for the cohort's nights (optionally per group): anything else in
    it ("how many patients are obese?", "which nights have severe sleep apnea?") is a condition no tool here
    reads, and the cohort's size or full list would answer another question."""
    return all(w in _COHORT_WORDS for w in re.findall(r"[a-z']+", p.text))


def _not_understood(p: Parsed, ctx: Context, what: str) -> Plan:
    return Plan(text=f"**I did not understand the whole question.** I understood: {what}, but not the condition "
                     "it is asked under. I count and list nights by subject attributes (sex, phenotype, site, age, "
                     "BMI) and by thresholds on a night measure.\n\nNearest question I can answer: *which nights "
                     "have an AHI above 15?*\n\n" + HELP)


def _bare_follow_up(p: Parsed) -> bool:
    """Whether the question is only a night's name with filler words: "what about sim-0003?" repeats the last
    question for it, "how long was the longest apnea in sim-0003?" does not (it is a question of its own that
    no tool here answers, and describing the night instead would answer another question)."""
    t = p.text
    for name in p.recordings:
        t = t.replace(name.lower(), " ")
    words = re.findall(r"[a-z']+", re.sub(r"\b(s\d{3,}|[a-z][a-z0-9]*[-_]\d[a-z0-9_-]*)\b", " ", t))
    return all(w in _FOLLOW_UP_WORDS for w in words)


def _follow_up(p: Parsed, ctx: Context) -> Plan:
    """Bare follow-ups: "what about epoch 12?", "and sim-0003?", "and the ODI?"."""
    if _has_epoch_ref(p) and _bare_follow_up(p):
        tool = ctx.last_tool if ctx.last_tool in EPOCH_TOOLS else "show_epoch"
        args = _epoch_args(p, ctx)
        if tool == "caption_epochs" and ctx.last_args.get("tracks"):
            args["tracks"] = ctx.last_args["tracks"]
        return Plan(tool, args)
    if p.recordings and _bare_follow_up(p):
        if ctx.last_tool == "query_cohort" and ctx.last_args.get("ask") == "value" \
                and len(ctx.last_args.get("nights") or []) == 1:  # "what about sim-0003?": same question
            return Plan("query_cohort", {**ctx.last_args, "nights": [p.recordings[0]]})
        if ctx.last_tool in NIGHT_TOOLS:
            keep = {k: v for k, v in ctx.last_args.items() if k not in ("recording",)}
            return Plan(ctx.last_tool, {**keep, "recording": p.recordings[0]})
        return Plan("describe_night", {"recording": p.recordings[0]})
    if p.events and ctx.last_tool == "query_cohort" and all(
            m.get("kind") == "event_count" for m in ctx.last_args.get("measures") or [{}]) and all(
            w in _FOLLOW_UP_WORDS | _EVENT_FOLLOW_UP_WORDS for w in re.findall(r"[a-z']+", p.text)):
        stage = (ctx.last_args.get("measures") or [{}])[0].get("stage")  # "and hypopneas?": the same question
        return Plan("query_cohort", {**ctx.last_args, "measures": [{"kind": "event_count", "name": e, "stage": stage}
                                                                   for e in p.events]})
    if p.this_night and ctx.recording and not (p.events or p.stages or p.metrics) and _bare_follow_up(p):
        return Plan("describe_night", {"recording": ctx.recording})  # "and this night?"; not "where does it happen?"
    understood = "; ".join(x for x in (
        ", ".join(e.replace("_", " ") for e in p.events), "stage " + "/".join(p.stages) if p.stages else "",
        ", ".join(p.metrics), ", ".join(p.recordings)) if x)
    if understood:
        what = _describe(p) or understood
        night = p.recordings[0] if p.recordings else ctx.recording
        near = (f"where are the {what}s in {night}?" if p.events and night else
                f"find epochs like {what}" if (p.events or p.stages) else "compare AHI by phenotype")
        return Plan(text=f"**I did not understand the whole question.** I understood: {understood}, but not what "
                         f"to do with it (a count, a search, a comparison?).\n\nNearest question I can answer: "
                         f"*{near}*\n\n" + HELP)
    return Plan(text="I did not understand that question.\n\n" + HELP)
