"""What the chat declines to answer, by the words of the question: attributes nobody recorded, event kinds
nobody scored, measures the workspace does not compute, and questions in other languages. Each entry says
why, so the answer can say it (used by :mod:`sleeplm.agent.planner`)."""

from __future__ import annotations

import re

from .intents import parse
from .query import Decline
from .vocab import METRIC_LABELS, CohortNames

#: Attributes nobody records in a PSG subjects table here: asked for, they are declined, not guessed.
UNRECORDED = {
    r"\bmedicat|\bdrugs?\b|\bmedicine|\bbenzodiazep|\bstatins?\b|\bantidepress": "medication",
    r"\bsleepiness\b|\bsleepy\b|\bfatigue|\btired|\bcomplain|\bsymptoms?\b|\bheadaches?\b": "symptom or complaint",
    r"\bparkinson|\bdementia|\balzheimer|\bheart failure|\bstroke\b|\bdepress(ion|ed)\b|\batrial fib|\bcomorbid":
        "medical history (comorbidities)",
    r"\bsmok|\bcigar": "smoking", r"\balcohol|\bdrink": "alcohol use", r"\bcaffeine|\bcoffee": "caffeine intake",
    r"\brace\b|\bethnic": "race / ethnicity", r"\bincome\b|\beducation\b|\binsurance\b": "socio-economic data",
    r"\bblood pressure|\bhypertens": "blood pressure", r"\bdiabet|\bglucose": "diabetes status",
    r"\bheight\b|\btall(est)?\b": "height", r"\bweight\b|\bweigh\b": "body weight (BMI is recorded)",
    r"\bepworth|\bess score|\bpsqi\b|\bquestionnaire": "questionnaire scores",
    r"\bsnor": "snoring (no snore channel or scoring)",
    r"\bend[- ]tidal|\betco2\b|\bcapnograph|\btranscutaneous|\btcco2\b|\bpco2\b|\bco2\b":
        "CO2 (no capnography or transcutaneous CO2 channel)",
}
#: Clinical decisions and diagnoses that a physician makes from the whole picture; the chat gives the measures they
#: rest on, never the decision.
CLINICAL_DECISIONS = {
    r"\b(cpap|bipap|apap|asv|servo[- ]?ventilation|oral appliance|mandibular|hypoglossal)\b|\btitrat|\bprescri"
    r"|\bshould (\w+ ){0,3}(be )?(treated|given|started|referred)\b|\btreatment\b|\btherapy\b": "a treatment decision",
    r"\bnarcolep|\bhypersomn|\brem sleep behaviou?r disorder\b|\brbd\b|\brestless legs?\b|\brls\b": "a diagnosis",
}
#: Event kinds that are not scored in this cohort's annotations.
UNSCORED = {
    r"\bspindles?\b": "sleep spindles", r"\bk[- ]?complex": "K-complexes", r"\bbrux": "bruxism",
    r"\brera|respiratory effort related": "RERAs", r"\bcheyne|periodic breathing": "Cheyne-Stokes breathing",
    r"\bseizure|\bepilep": "seizures", r"\balpha intrusion": "alpha intrusion",
    r"\bmicro ?sleep": "microsleeps", r"\bsawtooth": "sawtooth waves",
}
#: Measures a sleep physician may ask for that the workspace does not compute, with what it holds instead.
NOT_COMPUTED = {
    r"\brem (sleep )?without atonia\b|\brswa\b": (
        "REM sleep without atonia is not scored or computed: it needs the chin (and limb) EMG tone of REM epochs "
        "scored against the AASM rules, which neither the annotations nor the workspace do", "describe sim-0001"),
    r"\b(awakenings?|wak(e|ing) (bouts?|episodes?)|times? .*\bwo?ke)\b.{0,30}\b(longer|shorter|more|less) than "
    r"(?!(1|one|a) ?min(ute)?s?\b|60 ?s(ec(ond)?s?)?\b)\w"
    r"|\b(awakenings?|wake (bouts?|episodes?)) (of|lasting) (at least|over|more than|under|less than) "
    r"(?!(1|one|a) ?min(ute)?s?\b|60 ?s(ec(ond)?s?)?\b)\w"
    r"|\b(awakenings?|wake (bouts?|episodes?)) (of|lasting) (?!(1|one|a) ?min(ute)?s?\b|60 ?s(ec(ond)?s?)?\b)"
    r"\d+(\.\d+)? ?(min(ute)?s?|s(ec(ond)?s?)?|h(ours?)?)\b"
    r"|\b(long|longer|lengthy|prolonged|extended|brief|short|shorter) (awakenings?|wake (bouts?|episodes?))\b"
    r"|\b(including|counting|with) the (final|last) (awakening|wake)": (
        "awakenings are counted two ways: every bout of W, from a single 30-s epoch up, and those lasting at least "
        "1 minute, between sleep onset and the last sleep epoch (the final awakening is not one of them); other "
        "durations are not kept",
        "how many awakenings of at least 1 minute did each night have?"),
    r"\b(most|least|more|less|highly|very) (fragmented|disrupted)\b|\bfragmentation index\b|\bsfi\b"
    r"|\b(fragmented|disrupted) (sleep|nights?)\b": (
        "sleep fragmentation is not one stored value (and a sleep fragmentation index has several definitions): "
        "the workspace keeps, per night, the WASO, the awakenings (all of them and those of at least 1 minute), the "
        "awakening index, the stage shift index and, where arousals were scored, the arousal index; name one of these",
        "which nights have the highest awakening index?"),
    r"\b(which|what)\b.{0,40}\b(rule|criteri\w+|definition)\b.{0,40}\b(hypopn\w*|ahi|odi|desat\w*)"
    r"|\b(hypopn\w*|ahi|odi|desat\w*)\b.{0,60}\b(3|4|three|four) ?(%|percent)( or (a |the )?(3|4) ?(%|percent))?"
    r"( desaturation)? (rule|criteri\w+|definition)"
    r"|\b(using|with|by|under|per) (the )?(3|4|three|four) ?(%|percent) (desaturation )?(rule|criteri\w+|definition)\b"
    r"|\b(aasm|cms|medicare) (1a|1b|2007|2012|recommended|alternative|acceptable) (rule|criteri\w+|definition)": (
        "the annotation files hold the events as scored, not the rule the scorer used (a 3 % desaturation or an "
        "arousal, AASM's recommended rule, or a 4 % desaturation, the CMS / AASM 'acceptable' one), and the workspace "
        "keeps each desaturation's nadir but not its baseline, so its depth is unknown and the AHI and ODI cannot be "
        "recomputed under another rule here. The AHI counts the hypopneas as scored; a night scored by this program (labelled automatic) uses "
        "AASM 2012's 3 % / arousal rule. An AHI by the 4 % rule is lower (never higher) than one by the 3 % rule",
        "what is the AHI of each night?"),
    r"\b(during|in|within|throughout|over|of|per|each|every|across)\s+(the\s+)?(first|second|third|fourth|last|final|"
    r"each|every)?\s*(rem|nrem|non[- ]rem)\s+(period|episode|cycle)s?\b"
    r"|\b(sleep|nrem|non[- ]rem|rem)[- ]cycles?\b|\bcycles? of sleep\b|\bultradian\b": (
        "sleep cycles and REM periods are not segmented here (their definitions differ: how long a break in REM ends "
        "a period, how short a cycle may be), so nothing is counted or measured per cycle or per REM period; the "
        "workspace keeps each epoch's stage, the REM latency, the minutes and events in each stage, and clock-time "
        "windows (\"apneas between 00:30 and 00:45\")",
        "how many central apneas are there in REM in each night?"),
    r"\brdi\b|respiratory disturbance index": (
        "the RDI counts respiratory effort-related arousals (RERAs) besides apneas and hypopneas, and no RERAs are "
        "scored in this cohort's annotations, so the RDI is not computed. The AHI (apneas and hypopneas per hour of "
        "sleep) is stored; it is a lower bound of the RDI",
        "what is the AHI of each night?"),
    r"\b(latency to|latency of) (stage )?(n1|n2|n3|slow[- ]wave|deep|persistent)( sleep)?\b"
    r"|\b(n1|n2|n3)( sleep)? (onset )?latency\b|\bpersistent sleep\b|\blps\b": (
        "latencies to N1, N2, N3 or persistent sleep (the first 10 minutes of continuous sleep) are not stored: the "
        "workspace keeps the sleep latency (from the recording's start, "
        "taken as lights-off, to the first epoch of any sleep stage) and the REM latency (from sleep onset)",
        "what are the sleep latency and the REM latency of each night?"),
    r"\brem latency\b.*\b(from|since|after) (the )?(lights?[- ]?(off|out)|start of the recording|recording start|bedtime)"
    r"|\b(latency to rem|rem latency) (from|since|after) (the )?(lights?|start|bedtime)": (
        "the REM latency is stored from sleep onset (AASM); from lights-off (the recording's start) it is the sleep "
        "latency plus the REM latency, both of which I can give",
        "what are the sleep latency and the REM latency of each night?"),
    r"\bperiodic (leg|limb)|\bplms?i?\b|\bplmw\b": (
        "the periodic limb movement index is not computed: the workspace counts every scored limb movement "
        "(the limb movement index, per hour of sleep) without the AASM periodicity rule (a series of at least 4 "
        "movements 5–90 s apart), so it cannot tell periodic from isolated movements",
        "what is the limb movement index of each night?"),
    r"\bobstructive (ahi|apn\w*[- ]hypopn\w* index)\b|\boahi\b": (
        "the obstructive AHI is not stored as one value: the workspace keeps the AHI (every apnea and hypopnea per hour "
        "of sleep), the obstructive + mixed apnea index, the central apnea index and the hypopnea index, each per hour of "
        "sleep. The obstructive AHI is the obstructive + mixed apnea index plus the hypopnea index",
        "what are the obstructive + mixed apnea index and the hypopnea index of each night?"),
    r"\bposition(al)? (changes?|shifts?)\b|\b(changes?|shifts?) (of|in) (body )?position|\bturn(s|ed|ing)? over\b": (
        "the number of position changes is not counted: the workspace keeps, per night, the share of sleep in each "
        "position (supine, left, right, prone, upright) and the supine and non-supine AHI, not the moments the "
        "position changed",
        "what is the time supine of each night?"),
    r"\b(prevalen\w*|how common|incidence|how many (have|had|with)( an?)? (diagnos\w*|diagnosis))\b.*\b(osa|apn\w*)\b"
    r"|\b(osa|apn\w*)\b.*\b(prevalen\w*|how common|incidence)\b": (
        "sleep apnea is a diagnosis, not a stored value: it needs an AHI of at least 5 with symptoms (or at least 15 "
        "without), predominantly obstructive events for OSA, and a physician's reading. The workspace holds each "
        "night's AHI, obstructive and central apnea indices and the phenotype the recording was filed under, so it "
        "can count nights by AASM AHI range or by phenotype, not diagnose",
        "how many nights have an AHI of at least 15?"),
    r"\b(how (well|accurate(ly)?|good|right|often)|accuracy|agree(ment|s)?|kappa|correct(ly)?)\b.*\b(model|sleeplm)\b.*\bstag"
    r"|\b(model|sleeplm)('s)? (own )?(stag\w*|hypnogram)\b.*\b(hypnogram|scor\w*|accura\w*|agree\w*|compar\w*|kappa|correct)\b"
    r"|\b(model|sleeplm)\b.*\b(agree\w*|accura\w*|kappa)\b.*\bstag"
    r"|\b(model|sleeplm)\b.*\b(stage|score)s? (the |this |these )?(nights?|epochs?|recordings?)?\b.*\b(well|accurately|correctly)\b": (
        "the model's own sleep staging is not run in the chat: the stages shown are the night's scoring (a "
        "person's, or automatic where the night's description says so). How well the model's zero-shot stages "
        "agree with a hypnogram is measured by the evaluation harness: `sleeplm eval -w WORKSPACE --out FOLDER "
        "--tasks zero_shot_staging` reports accuracy, macro-F1 and Cohen's kappa, with YASA and the majority "
        "class scored on the same epochs",
        "can I trust the model on this night?"),
}
#: Words of other languages that an English question would not contain.
FOREIGN = {
    "Spanish": r"\b(cu[aá]ntas?|cu[aá]l|noches?|sueño|d[oó]nde|qu[eé]|promedio|mujeres|hombres)\b",
    "French": r"\b(combien|nuits?|quelle?|sommeil|moyenne|femmes|hommes|est-ce)\b",
    "German": r"\b(wie viele|n[aä]chte|nacht|schlaf|welche|durchschnitt|frauen|m[aä]nner)\b",
    "Italian": r"\b(quante|notti|sonno|quale|media|donne|uomini)\b",
    "Portuguese": r"\b(quantas|noites|sono|qual|m[eé]dia|mulheres|homens)\b",
}
NON_LATIN = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")


def understood(t: str, names: CohortNames) -> str:
    """What a question names, in words, for a decline's "What I understood" line."""
    p = parse(t, names)
    bits = []
    if p.recordings:
        bits.append("night " + ", ".join(p.recordings))
    if p.metrics:
        bits.append(", ".join(METRIC_LABELS.get(m, (m, ""))[0] for m in p.metrics))
    if p.events:  # "apneas" alone is every kind of apnea, though a search reads it as obstructive
        bits.append(", ".join("apnea (every kind)" if e == "obstructive_apnea" and not re.search(r"\bobstructive", t)
                              else e.replace("_", " ") for e in p.events))
    if p.stages:
        bits.append("stage " + "/".join(p.stages))
    return "; ".join(bits)


def _language(text: str) -> str | None:
    if NON_LATIN.search(text):
        return "a non-Latin script"
    for lang, rx in FOREIGN.items():
        if len(re.findall(rx, text)) >= 1 and not re.search(r"\b(what|how|which|the|is|are|of)\b", text):
            return lang
    return None


def declined_outright(question: str, names: CohortNames) -> Decline | None:
    """A decline for a question nothing in the cohort can answer, whatever its measure: another language, a clinical
    decision, a subject's "second night", something not recorded, not computed or not scored; None otherwise."""
    from .spelling import correct_spelling

    raw = question.strip().lower()
    lang = _language(raw)
    if lang:
        return Decline(f"the question seems to be in {lang}; I read questions in English only and would rather "
                       "not guess.", suggestion="how many nights are there?")
    t = correct_spelling(raw, names.known())
    for rx, what in CLINICAL_DECISIONS.items():
        if re.search(rx, t):
            return Decline(f"{what} is a physician's, made from the whole clinical picture (history, symptoms, "
                           "examination) that this cohort does not hold; I give the measures it rests on (AHI, "
                           "central and obstructive indices, oxygen saturation, stages, scored events) and the "
                           "phenotype each recording was filed under.", understood(t, names),
                           "describe sim-0001" if not names.recordings else f"describe {names.recordings[0]}")
    nth_night = re.search(r"\b(second|third|fourth|2nd|3rd|4th|follow[- ]?up|baseline|repeat) (night|recording|study|"
                          r"visit|psg)\b", t)
    if nth_night:  # "sim-0003's AHI on the second night": each recording is one night; which is a subject's 2nd is not kept
        return Decline(f"each recording here is one night, named by its recording; the cohort does not record which "
                       f"recording is a subject's \"{nth_night.group(0)}\", and answering for the night named would drop "
                       "that.", understood(t, names), "list the nights")
    for rx, what in UNRECORDED.items():
        if re.search(rx, t):
            return Decline(f"no {what} was recorded for this cohort: the subjects table holds age, sex, BMI, "
                           "phenotype and site.", understood(t, names),
                           "compare AHI by phenotype" if what == "medication" else "list the nights")
    for rx, (why, nearest) in NOT_COMPUTED.items():
        if re.search(rx, t):
            return Decline(why + ".", understood(t, names), nearest)
    for rx, what in UNSCORED.items():
        if re.search(rx, t):
            return Decline(f"{what} are not scored in this cohort's annotations (scored: apneas, hypopneas, "
                           "desaturations, arousals, limb movements).", understood(t, names),
                           "how many arousals are there in each night?")
    return None
