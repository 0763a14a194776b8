"""Small formatting pieces shared by the answer composers: numbers, times, epoch references, event lists."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def num(v: Any, digits: int = 1) -> str:
    """A number for an answer ("25.5"); "n/a" for missing values."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return f"{v:.{digits}f}"
        # round the number as written (19.15 -> 19.2), not its binary neighbour (19.149999... -> 19.1)
        return str(Decimal(repr(v)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return str(v)


def in_hours(minutes: Any) -> str:
    """ " (6 h 56 min)" for a time of an hour or more given in minutes; "" otherwise."""
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not math.isfinite(minutes) or minutes < 60:
        return ""
    total = int(Decimal(repr(float(minutes))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f" ({total // 60} h {total % 60:02d} min)"


#: A question that asks for a time in hours ("TST in hours", "how many hours of N3").
ASKS_HOURS = re.compile(r"\bin hours\b|\bhow many hours\b|\bhours of\b|\bin hrs?\b|\bas hours\b")
_MINUTES_VALUE = re.compile(r"\(min\)(\*\*)?:\s*(\*\*)?(\d+(?:\.\d+)?)(\*\*)?(?!\s*\(\d+(?:\.\d+)? h)")


def hours_where_asked(question: str, text: str) -> str:
    """``text`` with each headline value in minutes ("total sleep time (min): **8.5**") followed by the same in hours
    ("(0.14 h)") when ``question`` asks for hours; unchanged otherwise (the stored unit stays the one shown first)."""
    if not ASKS_HOURS.search(question.lower()):
        return text
    return _MINUTES_VALUE.sub(lambda m: f"{m.group(0)} ({float(m.group(3)) / 60:.2f} h)", text)


def epoch_ref(e: dict[str, Any]) -> str:
    """ "night-3 epoch 412 (01:56:00)": an epoch by its night, index and clock time (what it has of them)."""
    clock = f" ({e['clock_time']})" if e.get("clock_time") else ""
    return f"{e['recording']} epoch {e['epoch_index']}{clock}" if "recording" in e else \
        f"epoch {e['epoch_index']}{clock}"


def event_list(types: list[str]) -> str:
    """ "obstructive apnea, arousal" from event type names; "no scored events" for none."""
    return ", ".join(t.replace("_", " ") for t in types) if types else "no scored events"
