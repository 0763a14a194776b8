"""A generated caption whose numbers are the fact reader's: the decoder's wording, values read from the signal.

The decoder writes a caption token by token; its numbers are often wrong (issue 15: a third of the cardiac,
respiratory and somatic values and most brain values), and a long brain caption is cut off at the length limit.
The fact reader (:mod:`sleeplm.encoder.model.facts`) reads the same values from the signal far more often right.
:func:`grounded_caption` keeps what the decoder chose to say (its sections, trend phases and position changes) and
writes the reader's values into it:

* every section the decoder wrote keeps its trends and takes the reader's values for all its fields (a read minimum
  or maximum on the wrong side of the read mean is moved to the mean);
* a caption the length limit cut off (it does not end in a full stop) also gains the sections of the channels the
  recording has that the decoder did not reach;
* a section of a channel the epoch lacks is dropped, whatever the decoder wrote (the reader's value there reads
  nothing; SpO2, not a model input, stays only while the track has one of its inputs); a caption left with no
  section says the track's signal is absent, as a reference caption does;
* the body position is the reader's; without a position channel no position is stated; the decoder's position changes are kept only when the decoder named the same
  position.

Both sides are model outputs: no measured value of the epoch enters the caption.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

import numpy as np
from sleeplm.encoder.captions.facts import (
    SECTION_LEADS,
    TRACK_SECTIONS,
    EventFact,
    PositionFacts,
    SectionFacts,
    canonical_track,
)
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.captions.render import NO_EVENT_TEMPLATES, render_facts
from sleeplm.encoder.vocab import (
    EVENT_INPUTS,
    POSITIONS,
    SLEEPLM_CHANNELS,
    TRACK_INPUTS,
)


def _ordered(values: dict[str, float]) -> None:
    """Make a section's read minimum and maximum bracket its read mean (each value is read on its own, and a
    caption saying "minimum 72, mean 70" is wrong whatever the truth)."""
    for key in [k for k in values if k.startswith("mean_")]:
        unit = key.removeprefix("mean_")
        if f"min_{unit}" in values:
            values[f"min_{unit}"] = min(values[f"min_{unit}"], values[key])
        if f"max_{unit}" in values:
            values[f"max_{unit}"] = max(values[f"max_{unit}"], values[key])


def leads_in_caption(reference: str) -> dict[str, str]:
    """Section key -> the lead a (reference) caption's title names in place of the AASM derivation
    ("Central EEG Activity (CZ-A1 in place of C3-A2)" -> ``{"eeg_c3": "CZ-A1"}``)."""
    out = {}
    for key, (aasm, _) in SECTION_LEADS.items():
        m = re.search(rf"\(([^()]+?) in place of {re.escape(aasm)}\)", reference, flags=re.IGNORECASE)
        if m:
            out[key] = m.group(1)
    return out


def grounded_caption(generated: str, track: str, values: Mapping[str, float], position: str | None,
                     present: Collection[str], leads: Mapping[str, str] | None = None) -> str:
    """The decoder's caption ``generated`` of ``track`` with the read ``values`` in place of its numbers.

    Parameters
    ----------
    generated : the decoder's caption (any case and spacing :func:`~sleeplm.encoder.captions.parse.parse_caption`
        reads).
    track : one of the numeric tracks (brain, cardiac, respiratory, somatic); stage_event has no values and is
        returned as it is.
    values : the reader's values of this track, ``{"section.field": value}`` in the captions' units.
    position : the reader's body position (one of ``POSITIONS``), or None when it read none; used only where the
        position channel is ``present``.
    present : the model input channels the recording has for this epoch.
    leads : section key -> the lead recorded in place of the section's AASM derivation (:func:`leads_in_caption`),
        so a title names the lead the values were read from.

    Returns
    -------
    The caption rendered in canonical form; the decoder's text unchanged when it is complete and states nothing this
    module reads.
    """
    track = canonical_track(track)
    if track == "stage_event":
        return generated
    facts = parse_caption(generated, track)
    facts.leads = dict(leads or {})
    cut_off = not generated.rstrip().endswith(".")
    if not facts.sections and facts.position is None and not cut_off:
        return generated
    has_inputs = any(c in present for c in TRACK_INPUTS[track])
    for spec in TRACK_SECTIONS[track]:
        wrote = spec.key in facts.sections
        recorded = spec.channel in present if spec.channel is not None else has_inputs
        if not recorded:  # a section of a channel the recording lacks states no reading: dropped
            facts.sections.pop(spec.key, None)
            continue
        if not wrote and not (cut_off and spec.channel is not None):
            continue
        read = {f.key: round(float(values[f"{spec.key}.{f.key}"]), f.decimals) for f in spec.fields
                if math.isfinite(float(values.get(f"{spec.key}.{f.key}", math.nan)))}
        _ordered(read)
        trends = facts.sections[spec.key].trends if wrote else []
        if read or trends:
            facts.sections[spec.key] = SectionFacts(read, trends)
        else:
            facts.sections.pop(spec.key, None)
    if track == "somatic" and "POS" not in present:
        facts.position = None  # no position channel: a stated position reads nothing
    elif track == "somatic" and position in POSITIONS and (facts.position is not None or cut_off):
        same = facts.position is not None and facts.position.position == position
        facts.position = PositionFacts(position, list(facts.position.changes) if same else [])
    return render_facts(facts)


def grounded_captions(generated: list[str], track: str, values: Mapping[str, np.ndarray],
                      position_logp: np.ndarray | None, channel_masks: np.ndarray,
                      references: list[str] | None = None) -> list[str]:
    """:func:`grounded_caption` for many epochs.

    ``values`` is ``{"section.field": [N]}`` as :meth:`sleeplm.encoder.model.facts.FactModel.values` gives them,
    ``position_logp`` the reader's position log-probabilities ``[N, len(POSITIONS)]`` (None: no position), and
    ``channel_masks`` bool ``[N, 10]`` the input channels each epoch has (``SLEEPLM_CHANNELS`` order), and
    ``references`` the epochs' reference captions, whose titles name the leads recorded (:func:`leads_in_caption`).
    """
    out = []
    for i, text in enumerate(generated):
        present = {c for c, on in zip(SLEEPLM_CHANNELS, channel_masks[i]) if on}
        pos = POSITIONS[int(np.argmax(position_logp[i]))] if position_logp is not None else None
        leads = leads_in_caption(references[i]) if references is not None else None
        out.append(grounded_caption(text, track, {k: float(v[i]) for k, v in values.items()}, pos, present, leads))
    return out


def grounded_stage_event(generated: str, events: list[tuple[str, float, float]], readable: Collection[str],
                         present: Collection[str]) -> str:
    """The decoder's stage caption with the event head's events in place of the decoder's events of the ``readable``
    types.

    The stage and the events of other types (oxygen desaturations, limb movements: their signals are not model
    inputs) stay as the decoder wrote them. A readable event type whose inputs (:data:`EVENT_INPUTS`) the epoch lacks
    is stated by neither. ``events`` are ``(type, start_s, end_s)`` within the epoch
    (:meth:`~sleeplm.encoder.model.facts.FactModel.read_events`).
    """
    facts = parse_caption(generated, "stage_event")
    if facts.stage is None:
        return generated  # not a stage caption this module reads
    seen = {t for t in readable if any(c in present for c in EVENT_INPUTS.get(t, ()))}
    kept = [e for e in facts.events if e.type not in readable]
    read = [EventFact(t, a, b) for t, a, b in events if t in seen]
    facts.events = sorted(kept + read, key=lambda e: (e.start_s, e.type))
    text = render_facts(facts)
    if not facts.events and not any(c in present for c in EVENT_INPUTS["hypopnea"]):
        # "no breathing events were detected" would be a finding where nothing could show one
        text = text.replace(NO_EVENT_TEMPLATES[0], "Breathing events cannot be read here: the recording has no "
                                                   "airflow or effort channel.")
    return text
