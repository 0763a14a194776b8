"""A question in the planner's words: the stage names of scoring manuals, possessives of night names and phrasings of a
measure rewritten before :mod:`sleeplm.agent.planner` reads it ("apneas during stage 2" -> "apneas during n2",
"time below 90% saturation" -> "T90")."""

from __future__ import annotations

import re

from .vocab import CohortNames

_STAGE_SPELLINGS = ((r"\bstage\s+(?:n\s?)?1(?:\s+sleep)?\b", "n1"), (r"\bstage\s+(?:n\s?)?2(?:\s+sleep)?\b", "n2"),
                    (r"\bstage\s+(?:n\s?)?[34](?:\s+sleep)?\b", "n3"), (r"\bstage\s+(?:r|rem)(?:\s+sleep)?\b", "rem"),
                    (r"\bstage\s+w(?:ake)?\b", "wake"), (r"\bn\s?4\b", "n3"))


#: Phrasings of a measure in the planner's words: "time below 90% saturation" is T90 (its 90 is not a threshold),
#: "did X desaturate below 88%" asks for the SpO2 nadir below 88 %, "lower in older patients" is a trend with age.
_SAT = r"(?:spo2|sp02|o2|oxygen saturation|oxygen|saturation|sat)"
#: "Was the oxygen OK?" has no one measure: the oximetry measures the workspace keeps.
_OXIMETRY = "mean SpO2, SpO2 nadir, T90 and ODI"
_OXYGEN = r"(?:the\s+)?(?:oxygen(?:ation| saturation| levels?)?|spo2|sp02|(?:blood )?saturation|o2 sat(?:uration)?)"
#: "How fragmented was sleep?" has no one measure: the ones the workspace keeps.
_FRAGMENTATION = ("WASO, awakenings, awakenings of at least 1 minute, awakening index, stage shift index and arousal "
                  "index")
_PHRASINGS = (
    (r"(\d)\s*percent\b", r"\1%"),
    # the positional rule (Cartwright 1984) as a threshold on the supine / non-supine AHI ratio
    (r"\bsupine ahi\s+(?:is\s+|was\s+)?(?:at least|no less than)\s+(?:twice|two times|2 times|2 ?x|double)\s+(?:that of\s+)?"
     r"(?:the\s+|their\s+|its\s+)?non[- ]?supine(?:\s+ahi|\s+one)?\b", "supine ratio of at least 2"),
    (r"\bsupine ahi\s+(?:is\s+|was\s+)?(?:more than|over|greater than|above|higher than)\s+(?:twice|two times|2 times|2 ?x|"
     r"double)\s+(?:that of\s+)?(?:the\s+|their\s+|its\s+)?non[- ]?supine(?:\s+ahi|\s+one)?\b", "supine ratio above 2"),
    (r"\b(have|has|had|with)\s+positional\s+(?:osa|obstructive sleep apn\w*|sleep apn\w*|apn\w*)\b",
     r"\1 a supine ratio of at least 2 and an AHI of at least 5"),
    (rf"\bhow low did {_OXYGEN} (?:go|get|drop|fall|dip)\b", "what was the SpO2 nadir"),
    ((r"\b(?:what\s+)?(?:percent(?:age)?|%|share|proportion|fraction)\s+of\s+(?:the\s+)?(?:recording|night|time in bed)\s+"
      r"(?:was|were|is)\s+(?:spent\s+)?(?:awake|wake|in wake|w)\b"), "the stage distribution of"),
    ((r"\b(?:what time|when)\s+did\s+(.{1,30}?)\s+(?:finally\s+)?(?:wake|get)\s+up(?:\s+(?:for good|finally|in the "
      r"morning|at the end))?\b|\b(?:the\s+)?(?:time of (?:the\s+)?)?final awakening (?:of|in|for)\s+"), r"the WASO of \1 "),  # "how low did the sat go in X"
    (r"\b(?:paradoxical|rapid[- ]eye[- ]movement|desynchroni[sz]ed)\s+sleep\b", "REM sleep"),
    ((rf"\bhow (?:many minutes|much time|long)\s+(?:was|were|did|is|has|had)\s+(.{{0,30}}?)\s+(?:spend\s+|spent\s+)?"
      rf"(?:with\s+)?(?:an?\s+)?(?:{_SAT}\s+)?(?:below|under|<)\s*90\s*%?(?:\s+(?:{_SAT}))?"), r"T90 of \1"),
    ((r"\bhow (?:fragmented|disrupted|broken up|interrupted)\s+(?:was|is|were)\s+(?:the\s+)?sleep"
      r"(?:\s+(?:in|of|across|for)\s+(?:the\s+)?(?:cohort|nights|each night|every night|all nights))?\s*(?=\?|$)"),
     f"what are the {_FRAGMENTATION} of each night"),
    ((r"\bhow (?:fragmented|disrupted|broken up|interrupted)\s+(?:was|is|were)\s+(?:the\s+)?(?:sleep\s+)?"
      r"(?:(?:of|in|for|during)\s+)?"), f"what are the {_FRAGMENTATION} of "),
    (r"\b(?:the\s+)?sleep fragmentation (?:of|in|for)\b", f"the {_FRAGMENTATION} of"),
    ((rf"\b(?:is|was|are|were)\s+{_OXYGEN}\s+(?:ok|okay|normal|fine|alright|all right|good|adequate|acceptable)\b"
      rf"|\bhow (?:is|was|were|are|did)\s+{_OXYGEN}(?:\s+(?:look|do|go))?(?=\s+(?:in|of|for|during)\b|\s*\?|\s*$)"),
     f"what are the {_OXIMETRY}"),
    ((r"\b(?:the\s+)?(?:percent(?:age)?|%|share|proportion|fraction)\s+of\s+(?:the\s+)?(?:total\s+)?sleep(?:\s+time)?\s+"
      rf"(?:(?:was|were|is)\s+)?(?:spent\s+)?(?:with\s+)?(?:an?\s+)?(?:{_SAT}\s+)?(?:below|under|<)\s*90\s*%?"
      rf"(?:\s+(?:{_SAT}))?"), "CT90"),
    ((rf"\b(?:the\s+)?(?:time|minutes|duration)\s+(?:spent\s+)?(?:with\s+)?(?:an?\s+)?(?:{_SAT}\s+)?(?:below|under|<)\s*90\s*%?"
      rf"(?:\s+(?:{_SAT}))?"), "T90"),
    (rf"\bhow long (?:was|were|did) (.+?)(?:'s)? (?:{_SAT}) (?:below|under) 90\s*%?", r"T90 of \1"),
    ((r"\bhow much time (?:did|does|do|was|were|has|had)\s+(.+?)\s+(?:spend|spent|have|had|stay|stayed|remain)\s+"
      rf"(?:with\s+)?(?:an?\s+)?(?:{_SAT}\s+)?(?:below|under|<)\s*90\s*%?(?:\s+(?:{_SAT}))?"), r"T90 of \1"),
    (r"\bhow long (?:was|were|did|is)?\s*(.{0,30}?)\s*(?:spend\s+|spent\s+)?(?:below|under)\s+90\s*%", r"T90 of \1"),
    ((r"\b(?:dropp?(?:ed|s)?|f[ae]ll(?:s)?|go(?:es)?|went|dipp?(?:ed|s)?)\s+(?:to\s+)?(below|under|lower than|less than)\s+"
      rf"(\d+(?:\.\d+)?)\s*%(?:\s*(?:{_SAT}))?"), r"have an SpO2 nadir \1 \2%"),
    (rf"\b(?:an?\s+)?{_SAT}\s+(below|under|lower than|less than)\s+(\d+(?:\.\d+)?)\s*%", r"an SpO2 nadir \1 \2%"),
    (r"\bdesaturat\w*\s+(?:to\s+)?(below|under|beneath|less than|lower than)\s+(\d+(?:\.\d+)?)\s*%?",
     r"have an SpO2 nadir \1 \2%"),
    ((r"\brem[- ]?(?:related|predominant|dependent|associated|specific|only)\s+(?:osa|obstructive sleep apn\w*|"
      r"sleep apn\w*|apn\w*)"), "REM-related OSA"),
    ((r"\b(?:osa|obstructive sleep apn\w*|sleep apn\w*|apn\w*)\s+(?:is\s+|was\s+)?(?:rem[- ]?(?:related|predominant|"
      r"dependent|specific)|(?:mostly|mainly|predominantly|largely) (?:in|during) rem)\b"), "REM-related OSA"),
    ((r"\b(?:higher|lower|worse|better|greater|smaller|longer|shorter|increased|decreased|reduced|more|less)\s+"
      r"(?:in|among|for|with)\s+(?:the\s+)?(?:older|elderly|younger|old|young)(?:\s+(?:patients|people|subjects|"
      r"participants|adults|individuals|nights|ones|sleepers))?\b"), "change with age"),
)


def rk_stage_note(question: str) -> str:
    """A line for a question that names Rechtschaffen & Kales stage 4 (or stages 3 and 4 apart): AASM scoring merged
    them into N3, which is what the annotations give ("" for any other question)."""
    if not re.search(r"\bstage\s+(?:s\s?)?4\b|\bs4\b|\bn\s?4\b|\bstages?\s+3\s*(?:and|&|\+|or|/)\s*4\b", question,
                     re.IGNORECASE):
        return ""
    n4 = " (there is no N4)" if re.search(r"\bn\s?4\b", question, re.IGNORECASE) else ""
    return (f"**Stage 4 is not told apart here{n4}:** AASM scoring merged Rechtschaffen & Kales stages 3 and 4 into N3, "
            "and the answer below is for N3 (an R&K hypnogram's S3 and S4 are both read as N3).")


def canonical_wording(question: str, names: CohortNames) -> str:
    """The question with the stage names of scoring manuals in the planner's words ("apneas during stage 2" ->
    "apneas during n2"), a night's possessive dropped ("sim-0006's AHI" -> "sim-0006 AHI") and the phrasings of
    :data:`_PHRASINGS` ("time below 90% saturation" -> "T90")."""
    for rx, word in _PHRASINGS:
        question = re.sub(rx, word, question, flags=re.IGNORECASE)
    for rx, word in _STAGE_SPELLINGS:
        question = re.sub(rx, word, question, flags=re.IGNORECASE)
    for name in sorted(names.known(), key=len, reverse=True):
        question = re.sub(rf"(?<![\w-])({re.escape(name)})['’]s\b", r"\1", question, flags=re.IGNORECASE)
    return question


#: Stage names no scoring manual has ("N5", "stage 6").
_NO_SUCH_STAGE = r"\b(n\s?[5-9]|stage\s+(?:n\s?)?[6-9])\b"


def no_such_stage(question: str) -> str | None:
    """The stage name a question uses that no scoring manual has ("N5"), or None."""
    m = re.search(_NO_SUCH_STAGE, question, re.IGNORECASE)
    return m.group(1) if m else None


#: "How was the AHI computed?", "which hypopnea rule?": how the indices are made from the scoring.
_METHOD = (r"\bhow (is|was|are|were)\b.*\b(ahi|odi|ahis|indices|index)\b.*\b(comput|calculat|defin|deriv)\w*"
           r"|\bhypopnea (rule|criteri\w*|definition)s?\b|\b[34] ?% (rule|criteri\w*)\b"
           r"|\bhow (were|was|are|is) (its |the |their )?(hypopn\w*|apn\w*) scored\b")


def method_note(question: str) -> str:
    """How the AHI and ODI are made from a night's scoring, for a question that asks ("" for any other)."""
    if not re.search(_METHOD, question, re.IGNORECASE):
        return ""
    return ("**How the indices are computed here:** the AHI is the night's scored apneas (obstructive, central, mixed) "
            "and hypopneas per hour of total sleep time (epochs scored N1, N2, N3 or REM); the ODI its scored "
            "desaturations per hour of sleep. Events are counted as the scoring gives them, not re-scored. The "
            "hypopnea rule (AASM 3 % or arousal, or 4 %) is known only where this program scored the events itself "
            "(named in the table below); a scoring file supplied with a recording does not state the rule its scorer "
            "used.")
