"""Markdown answers for ``query_cohort`` results (:mod:`sleeplm.agent.executor`): every number with its
unit, the nights behind it, group sizes and the test used; a decline says why and what can be asked."""

from __future__ import annotations

import math
from typing import Any

from .answer_format import in_hours
from .answer_format import num as _n
from .query import Decline


def _whole(r: dict[str, Any]) -> bool:
    """Whether the result's values are whole numbers by nature (event counts, ages): shown without decimals."""
    m = r.get("measure") or {}
    return m.get("kind") == "event_count" or (m.get("kind") == "attribute" and m.get("name") == "age") or \
        (m.get("kind") == "metric" and str(m.get("name", "")).startswith("n_"))  # n_awakenings, n_apneas …


def _nv(r: dict[str, Any], v: Any) -> str:
    """A value of the result's measure: "41" for a count, "25.5" otherwise."""
    if _whole(r) and isinstance(v, float) and v.is_integer():
        return str(int(v))
    return _n(v)


def _g(v: Any) -> str:
    return f"{round(v, 2):g}" if isinstance(v, float) else _n(v)


def _scope(r: dict[str, Any]) -> str:
    return f" (nights with {' and '.join(r['filters'])})" if r.get("filters") else ""


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _unknown(r: dict[str, Any]) -> str:
    """The nights a condition could not be checked in, and why (they are left out, not counted as failing it)."""
    return "".join(f"\n\nLeft out, since “{u['condition']}” cannot be checked there: {', '.join(u['nights'])} "
                   f"({u['why']})." for u in r.get("unknown") or [])


def compose_query(r: dict[str, Any]) -> str:
    """The answer for one executed query."""
    kind = r["kind"]
    if kind == "declined":
        return Decline(**r["decline"]).text()
    fn = {"value": _value, "aggregate": _aggregate, "rank": _rank, "argmax": _arg, "argmin": _arg,
          "count": _count, "list": _list, "compare": _compare, "trend": _trend}[kind]
    text = fn(r) + _unknown(r)
    if r.get("little_sleep") and kind in ("aggregate", "rank", "argmax", "argmin", "compare", "trend"):
        text += f"\n\nCaution: {r['little_sleep']}."
    if r.get("window"):
        text += "\n\n" + _window(r)
    return f"{text}\n\n{r['provenance']}" if r.get("provenance") else text


def _window(r: dict[str, Any]) -> str:
    """Where the time window falls in each night: clock times, hours from the start, epochs."""
    spans = r.get("spans") or []
    shown = spans[:12]
    parts = []
    for sp in shown:
        if sp["why"]:
            parts.append(f"{sp['recording']}: not placed — {sp['why']}")
        else:
            parts.append(f"{sp['recording']}: {sp['span']}" + (f" ({sp['note']})" if sp["note"] else ""))
    more = f"; … {len(spans) - len(shown)} more" if len(spans) > len(shown) else ""
    return (f"Time window: {r['window']} (a whole 30-s epoch counts when it starts inside; an event counts in "
            f"the epoch it starts in; lights-off is taken as the recording's start). "
            + "; ".join(parts) + more + ".")


def _where_most(row: dict[str, Any], series: list[dict[str, Any]]) -> list[str]:
    """For one night's quantities taken stage by stage (the executor's ``by_stage``): the stage with the most events,
    and the stage with the highest rate per hour where the rates are given, in words."""
    out = []
    for s in series:
        vals = {st: float(v) for st, lab in s["labels"].items()
                if isinstance(v := row.get(lab), (int, float)) and math.isfinite(v)}
        if len(vals) < 3 or max(vals.values()) <= 0:
            continue
        top = max(vals.values())
        stages = " and ".join(st for st, v in vals.items() if v == top)
        out.append(f"Highest {s['what']}: {stages} ({_n(top)}/h of that stage)." if s["per_hour"] else
                   f"Most {s['what']} start in {stages}: {int(top)} of {int(sum(vals.values()))}.")
    return out


def _value(r: dict[str, Any]) -> str:
    lines = []
    for row in r["rows"]:
        parts = []
        for label in r["labels"]:
            v = row.get(label)
            if v is None and label in (row.get("why_missing") or {}):
                parts.append(f"**{label}: not available** — {row['why_missing'][label]}")
            else:
                parts.append(f"**{label}: {_n(v)}**" + (in_hours(v) if label.endswith("(min)") else "")
                             + (f" ({row['at'][label]})" if label in (row.get("at") or {}) else ""))
        lines.append(f"{row['recording']}: " + "; ".join(parts) + ".")
        lines += _where_most(row, r.get("by_stage") or [])
        lines += [f"Caution: {note}." for note in row.get("notes") or []]
        for check in row.get("checks") or []:  # a yes/no threshold on this night's value
            answer = {True: "**Yes**", False: "**No**", None: "**Unknown** (no value)"}[check["met"]]
            lines.append(f"{answer}: {row['recording']} {'meets' if check['met'] else 'does not meet'} "
                         f"{check['condition']}." if check["met"] is not None else
                         f"{answer}: whether {row['recording']} meets {check['condition']} cannot be told.")
    c = r.get("cohort")
    if c and c["n"]:
        where = "; ".join(f"{rec} ranks {k} of {c['n']} from the highest" for rec, k in c["ranks"].items())
        lines.append(f"Against the cohort ({c['label']}, {c['n']} nights with a value): mean {_n(c['mean'])}, median "
                     f"{_n(c['median'])}, range {_n(c['low'])}–{_n(c['high'])}" + (f"; {where}." if where else "."))
    lines.append("Evidence: the night's scored stages, events and per-epoch heart rate / SpO2." if r.get("window")
                 else "Evidence: the night's stored metrics and scored events.")
    return "\n\n".join(lines)


def _aggregate(r: dict[str, Any]) -> str:
    word = {"mean": "Mean", "median": "Median", "min": "Minimum", "max": "Maximum", "sum": "Total",
            "sd": "Standard deviation (sample) of", "range": "Range of"}[r["stat"]]
    shown = (f"{_nv(r, r['low'])}–{_nv(r, r['high'])}" if r["stat"] == "range" and "low" in r else
             _nv(r, r["value"]) if r["stat"] in ("sum", "min", "max") else _n(r["value"]))
    label = f"over nights of each night's {r['label']}" if r["label"].startswith(("mean ", "longest ")) else r["label"]
    text = (f"**{word} {label}: {shown}** over {r['n_with_value']} night(s){_scope(r)}.")
    if r["n_missing"]:
        text += f" Not available for: {', '.join(r['n_missing'])} (left out{_why_missing(r)})."
    per = "; ".join(f"{p['recording']} {_nv(r, p['value'])}" for p in r["per_night"][:20])
    return f"{text}\n\nPer night: {per}{' …' if len(r['per_night']) > 20 else ''}."


def _why_missing(r: dict[str, Any], lead: str = ": ") -> str:
    """Why nights have no value ("sim-0002, sim-0003: these nights have no scored …"), from ``missing_why``."""
    groups = r.get("missing_why") or []
    if len(groups) == 1:
        return f"{lead}{groups[0]['why']}"
    return "".join(f"{lead if i == 0 else '; '}{', '.join(g['nights'])}: {g['why']}" for i, g in enumerate(groups))


def _rank(r: dict[str, Any]) -> str:
    head = f"**Nights ranked by {r['label']}** ({'highest' if r['descending'] else 'lowest'} first){_scope(r)}:"
    rows = "\n".join(f"{i}. {x['recording']} — {_nv(r, x['value'])}" + "".join(
        f"; {lab}: {v if isinstance(v, int) else _n(v) if v is not None else 'not available'}"
        for lab, v in (x.get("extra") or {}).items())
        for i, x in enumerate(r["rows"], 1))
    tail = f"\n\nNot available for: {', '.join(r['missing'])}{_why_missing(r, ': ')}." if r["missing"] else ""
    fig = "\n\nFigure: the ranking as bars." if r["figures"] else ""
    return f"{head}\n\n{rows or '(no nights)'}{tail}{fig}"


def _arg(r: dict[str, Any]) -> str:
    pair = len(r["rows"]) + len(r.get("missing") or []) == 2  # of two nights: "the higher", not "the highest"
    if (r.get("measure") or {}).get("kind") == "event_count":  # "has the most arousals", not "the highest arousals"
        word = ("more" if pair else "most") if r["kind"] == "argmax" else ("fewer" if pair else "fewest")
    else:
        word = ("higher" if pair else "highest") if r["kind"] == "argmax" else ("lower" if pair else "lowest")
    if r["label"].startswith("longest ") and r["kind"] == "argmax":  # "has the longest apnea", not "the highest longest"
        word = ""
    subj = r.get("subject") or {}
    who = f" (subject {subj.get('subject_id')}, {_n(subj.get('age'), 0)} y, {subj.get('sex') or 'sex n/a'}, " \
          f"{subj.get('phenotype') or 'phenotype n/a'})" if subj.get("subject_id") else ""
    the = "" if word in ("more", "fewer") else "the "
    text = f"**{r['night']}** has {the}{word + ' ' if word else ''}{r['label']}: **{_nv(r, r['value'])}**{who}{_scope(r)}."
    if (r.get("measure") or {}).get("kind") == "attribute" and (r.get("measure") or {}).get("name") == "age":
        old = ("older" if pair else "oldest") if r["kind"] == "argmax" else ("younger" if pair else "youngest")
        text = f"**{r['night']}** is the night of the {old} subject: age **{_nv(r, r['value'])}**{who}{_scope(r)}."
    for label, v in (r.get("extra") or {}).items():
        why = (r.get("extra_missing") or {}).get(label)
        text += f" Its {label}: **not available** — {why}." if v is None and why else f" Its {label}: **{_n(v)}**."
    if r["ties"]:
        text += f" Tied with: {', '.join(r['ties'])}."
    others = [x for x in r["rows"] if x["recording"] != r["night"] and x["recording"] not in r["ties"]][:3]
    if others:
        text += (" The other: " if pair else " Next: ") + "; ".join(f"{x['recording']} {_nv(r, x['value'])}"
                                                             for x in others) + "."
    if r.get("missing"):  # a night without a value is not in the running: say which, and why
        text += f" Not available for: {', '.join(r['missing'])}{_why_missing(r)}."
    if r.get("each"):  # "the worst oxygenation": no single measure, so the night on each
        text += (f"\n\nOxygenation has no single measure; this is the night with the {'lowest' if r['each']['word'] == 'worst' else 'highest'} "
                 f"SpO2 nadir. {r['each']['word'].capitalize()} on each of the others: "
                 + "; ".join(f"{lab}: {x['night']} ({_n(x['value'])})" for lab, x in r["each"]["by"].items()) + ".")
    if r.get("then"):
        from .answers import compose

        text += "\n\n" + compose(r["then"]["tool"], r["then"]["result"])
    return text


def _n_unknown(r: dict[str, Any]) -> int:
    """How many nights a condition could not be checked in (see :func:`_unknown`)."""
    return len({n for u in r.get("unknown") or [] for n in u["nights"]})


def _count(r: dict[str, Any]) -> str:
    unknown = _n_unknown(r)
    if not r["n_nights"] and unknown and unknown >= (r.get("n_total") or 0):
        return f"**Unknown for every night**{_scope(r)}: the condition cannot be checked in any of the cohort's " \
               f"{unknown} nights (why below), so the count is unknown, not 0."
    text = f"**{r['n_nights']} night(s)**{_scope(r)}: {', '.join(r['recordings']) or 'none'}."
    subjects = {x.get("subject_id") for x in r["rows"] if x.get("subject_id")}
    if subjects and len(subjects) != r["n_nights"]:  # "how many of the subjects are men?" where some have two nights
        text += f" They are the nights of {len(subjects)} subject(s)."
    if r.get("filters") and r.get("n_total"):
        checked = r["n_total"] - unknown
        text += f" That is {r['n_nights']} of the cohort's {r['n_total']} nights ({100 * r['n_nights'] / r['n_total']:.0f} %)" + (
            f"; of the {checked} nights where the condition can be checked, {100 * r['n_nights'] / checked:.0f} %."
            if unknown and checked else ".")
    if r.get("per_group"):
        text += "\n\nBy " + r["by"] + ": " + "; ".join(f"{g}: {len(v)}" for g, v in r["per_group"].items()) + "."
    if r["rows"] and len(r["rows"]) <= 30:
        text += "\n\n" + _table(r["rows"])
    return text


def _table(rows: list[dict[str, Any]]) -> str:
    cols = [c for c in rows[0] if c != "missing_channels" or any(x["missing_channels"] for x in rows)]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)
    return head + "\n" + "\n".join("| " + " | ".join(_g(x.get(c)) for c in cols) + " |" for x in rows)


def _list(r: dict[str, Any]) -> str:
    if not r["rows"]:
        if _n_unknown(r) and _n_unknown(r) >= (r.get("n_total") or 0):
            return f"**Unknown for every night**{_scope(r)}: the condition cannot be checked in any of them (why below)."
        return f"**No night**{_scope(r)} in this cohort."
    return f"**{r['n_nights']} night(s)**{_scope(r)}:\n\n{_table(r['rows'])}"


def _compare(r: dict[str, Any]) -> str:
    by = r.get("by_label") or r["by"]
    head = f"| {by} | nights | mean | median |\n|---|---|---|---|"
    body = "\n".join(f"| {g['group']} | {g['n']} | {_g(g['mean'])} | {_g(g['median'])} |" for g in r["groups"])
    lines = [f"**{r['label']} by {by}**{_scope(r)}:", f"{head}\n{body}"]
    if r.get("pooled"):  # "OSA patients vs healthy subjects": each group pools several labels
        lines.append("Groups pooled: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in r["pooled"].items()
                                                   if len(v) > 1) + ".")
    if r["difference"] is not None:
        a, b = r["groups"][0], r["groups"][1]
        lines.append(f"Difference in means ({b['group']} − {a['group']}): {_n(r['difference'], 2)}.")
    t = r["test"]
    if t:
        lines.append(f"{t['name']} test: p = {_p(t['p'])} ({'no ' if (t['p'] or 1) >= 0.05 else ''}"
                     f"significant difference at the 0.05 level).")
    else:
        lines.append("No test: it needs at least two groups with values and more nights than groups.")
    if r["small_groups"]:
        lines.append(f"Caution: small groups ({', '.join(r['small_groups'])} with fewer than 5 nights); a test "
                     "this small has little power, so no difference found is not evidence of none.")
    missing = [n for g in r["groups"] for n in g["without_value"]]
    if missing:
        lines.append(f"Without a value (left out of means and test): {', '.join(missing)}.")
    lines.append("Nights: " + "; ".join(f"{g['group']}: {', '.join(g['nights'])}" for g in r["groups"]) + ".")
    if r["figures"]:
        lines.append("Figure: a box per group with every night as a point.")
    return "\n\n".join(lines)


def _trend(r: dict[str, Any]) -> str:
    rho, p = r["rho"], r["p"]
    direction = "no clear" if p is None or p >= 0.05 else ("an increasing" if (rho or 0) > 0 else "a decreasing")
    digits = 0 if r["against"] == "age" else 1
    pts = "; ".join(f"{x['recording']} ({_n(x[r['against']], digits)}: {_n(x['value'])})" for x in r["points"][:20])
    small = " With this few nights the test has little power." if r["n"] < 10 else ""
    p_text = f"p {_p(p)}" if _p(p).startswith("<") else f"p = {_p(p)}"
    return (f"**{r['label']} against {r.get('against_label') or r['against']}**{_scope(r)}: Spearman rho = "
            f"{_n(rho, 2)}, {p_text}, n = {r['n']} nights — {direction} trend.{small}\n\nPoints "
            f"({r.get('against_label') or r['against']}: {r['label']}): {pts}.")
