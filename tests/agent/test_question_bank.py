"""The question bank: researcher questions with gold answers from the cohort's own files (see bank.py).

The full bank runs on four simulated 3-h nights that all reach REM (slow: the cohort takes about a minute
to build); a representative subset runs by default on the shared 30-min cohort, which has no REM, so its
REM questions must be declined. Both assert that no answer is wrong and print the right / declined shares.
"""

from __future__ import annotations

from pathlib import Path

import bank
import pytest
from sleeplm.index.queries import Cohort


def _report(results: list, label: str) -> dict[str, float]:
    s = bank.shares(results)
    print(f"\n{label}: {len(results)} questions — right {s['right']:.3f}, declined {s['declined']:.3f}, "
          f"wrong {s['wrong']:.3f}")
    for item, outcome, answer in results:
        if outcome != "right":
            print(f"  [{outcome}] {item.kind}: {item.question}\n    {answer[:300]!r}")
    return s


@pytest.mark.slow
def test_full_bank_on_whole_nights_with_rem_has_no_wrong_answer(rem_cohort: Path, tmp_path: Path) -> None:
    gold = bank.Gold(rem_cohort / "edf")
    items = bank.build(gold, rem_everywhere=True)
    assert len(items) >= 150
    cohort = Cohort(rem_cohort / "ws")
    try:
        results = bank.run(cohort, items, tmp_path)
    finally:
        cohort.close()
    s = _report(results, "question bank (4 nights × 3 h, seed 7)")
    assert [(i.question, a[:200]) for i, o, a in results if o == "wrong"] == []
    assert s["right"] >= 0.95


def test_bank_subset_on_a_cohort_without_rem_declines_rem_questions(sim_cohort_dir: Path, sim_workspace: Path,
                                                                     tmp_path: Path) -> None:
    gold = bank.Gold(sim_cohort_dir)
    assert not any((s == "REM").any() for s in gold.stages.values())  # the premise: nobody reached REM
    items = bank.build(gold, rem_everywhere=False)
    kinds: dict[str, int] = {}
    subset = []
    for item in items:  # the first two of every kind
        if kinds.get(item.kind, 0) < 2:
            subset.append(item)
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
    cohort = Cohort(sim_workspace)
    try:
        results = bank.run(cohort, subset, tmp_path)
    finally:
        cohort.close()
    _report(results, "question bank subset (3 nights × 30 min, no REM)")
    assert [(i.question, a[:200]) for i, o, a in results if o == "wrong"] == []
    rem = [o for i, o, _ in results if "no REM" in i.kind]
    assert rem and all(o == "right" for o in rem)
