"""What a model's text search was measured to do, written beside its weights for the chat to cite.

``python -m sleeplm.eval.measured RETRIEVAL_JSON WEIGHTS`` reads the ``retrieval`` task result of a
``sleeplm eval`` run of those weights (its ``text→signal`` rows: R@10 and chance per caption track, on held-out
epochs) and writes ``<weights stem>.measured.json`` beside the weights. The record names the weights' sha256
(a record is only used for the weights it was measured on) and the run it comes from. The chat reads it
(:func:`sleeplm.index.models.measured_text_search`) to say, under a search whose description names no sleep stage
or scored event (nothing the annotations can check), how well the model's text search did on such descriptions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any


def measured_record(retrieval: dict[str, Any], weights_sha256: str) -> dict[str, Any]:
    """The record for one ``retrieval.json`` result of the weights with ``weights_sha256``.

    Raises
    ------
    ValueError
        When the result was computed with other weights, or has no text→signal rows.
    """
    model = (retrieval.get("meta") or {}).get("model") or {}
    if model.get("sha256") != weights_sha256:
        raise ValueError(f"the retrieval result was measured on weights sha256 {str(model.get('sha256'))[:12]}…, "
                         f"not on these ({weights_sha256[:12]}…)")
    # the text tower's rows only: a free-text search ranks by it; the "(fact reader)" rows score a caption's exact
    # values against the reader's readings, which a free-text description does not give
    rows = [r for r in (retrieval.get("tables") or {}).get("cross-modal retrieval", [])
            if r["direction"] == "text→signal" and not r["track"].endswith("(fact reader)")]
    if not rows:
        raise ValueError("the retrieval result has no text→signal rows")
    meta = retrieval.get("meta") or {}
    return {
        "model_sha256": weights_sha256,
        "text_to_signal": {r["track"]: {"r_at_10": round(float(r["R@10"]), 3), "chance_r_at_10": round(float(r["chance R@10"]), 3),
                                        "epochs": int(r["epochs"]), "distinct_captions": int(r["distinct captions"])}
                           for r in rows},
        "measured_on": {"workspace": meta.get("workspace"), "started": meta.get("started"),
                        "task": "retrieval (sleeplm eval): the reference caption of each held-out epoch as the query, "
                                "R@10 = share of queries whose own epoch is among the 10 best"},
    }


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("retrieval_json", type=Path, help="retrieval.json of a sleeplm eval run of the weights")
    ap.add_argument("weights", type=Path, help="the weights file (the record goes beside it)")
    ap.add_argument("--source", default=None, help="where the result is kept in the repository (written in the record)")
    ap.add_argument("--cohort", default=None, help="the held-out cohort it was measured on, in words")
    args = ap.parse_args(argv)
    sha = hashlib.sha256(args.weights.read_bytes()).hexdigest()
    record = measured_record(json.loads(args.retrieval_json.read_text()), sha)
    record["source"] = args.source or str(args.retrieval_json)
    if args.cohort:
        record["measured_on"]["cohort"] = args.cohort
    out = args.weights.with_name(f"{args.weights.stem}.measured.json")
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(out)
    return out


if __name__ == "__main__":
    main()
