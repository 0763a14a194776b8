"""SleepLM-Base speed: this tree vs the pre-optimisation commit (1e48198), in one run, as ratios.

Every measurement runs in a fresh subprocess that imports either this tree or a ``git worktree``
of the baseline commit (``--baseline-dir`` to reuse one), alternating old/new to share the
machine's noise. Random weights with the sleeplm-base config, seed 0 in both trees (same
construction order, so the same weights; speed does not depend on their values).

    python bench/bench_model_speed.py                       # CPU, all sections
    python bench/bench_model_speed.py --device cuda --sections encoder captions
    python bench/bench_model_speed.py --sections load       # peak RSS of loading a 1.54 GB checkpoint

Sections: ``encoder`` (epochs/s, old vs new fp32 + fast modes, with agreement), ``load`` (peak RSS
vs file size), ``captions`` (epochs captioned per second: today's one-epoch-at-a-time path, the
plain uncached greedy loop = the official generator's tokens, and the batched KV-cached path;
tokens compared), ``profile`` (opt-in: torch.profiler self time per op of the encoder, GEMM share),
``decode`` (opt-in: the cached decoder alone on given decoder tokens, this tree
vs ``--decode-baseline``, a commit), ``fastmode`` (opt-in: agreement of int8 / bf16 with float32 for the trained
sleeplm-tiny and the base architecture's random weights on simulated held-out epochs — embedding
cosine, zero-shot stage agreement, identical top-10 share). Ratios come by wall time and by the
process's CPU time; with ``--threads 1`` the CPU-time ratio barely moves with other jobs on the
machine. The load average at each section's start and end is recorded. Prints tables and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "1e48198"
TRACKS = ["stage_event", "brain", "cardiac", "respiratory", "somatic"]


# ----------------------------------------------------------------------------------------- worker
def _rss_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _sync(dev: str) -> None:
    import torch

    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def _base_model(dev: str):
    from sleeplm.encoder.model import SleepLM

    return SleepLM(_seeded("sleeplm-base").to(dev), tokenizer=object())  # ids only: no tokenizer needed


def _seeded(name: str):
    import torch

    from sleeplm.encoder.model import create_model

    torch.manual_seed(0)
    return create_model(name)


def _signals(n: int):
    import numpy as np

    return np.random.default_rng(0).standard_normal((n, 10, 1920)).astype(np.float32)


def worker(task: str, a: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(a.get("threads") or torch.get_num_threads())
    dev = a.get("device", "cpu")
    if task == "load":
        base = _rss_kb("VmRSS")
        from sleeplm.encoder.model import load_model

        t0 = time.perf_counter()
        lm = load_model(a["path"], config="sleeplm-base")
        t_load = time.perf_counter() - t0
        after_load = _rss_kb("VmHWM")
        total = sum(float(p.double().sum()) for p in lm.model.parameters())  # touch every weight page
        return {"baseline_rss_mb": base / 1024, "peak_after_load_mb": after_load / 1024,
                "peak_after_touch_mb": _rss_kb("VmHWM") / 1024, "load_s": t_load, "checksum": total}
    if task == "simdata":  # held-out simulated nights -> model inputs and their scored stages
        from sleeplm.encoder.io.channels import map_channels
        from sleeplm.encoder.io.records import Recording
        from sleeplm.encoder.signals.preprocess import make_epochs
        from sleeplm.encoder.sim import draw_subject, simulate_night

        xs, stages = [], []
        for i in range(a["nights"]):
            rng = np.random.default_rng(np.random.SeedSequence([a["seed"], i]))
            night = simulate_night(draw_subject(i, rng), rng, a["duration_h"])
            rec = Recording(Path(f"{night.stem}.edf"), night.start_time, night.duration_s, list(night.signals))
            ep = make_epochs(map_channels(rec), night.annotations())
            xs.append(ep.x)
            stages += [str(s) for s in ep.stages]
        np.savez(a["out"], x=np.concatenate(xs), stages=np.asarray(stages))
        return {"epochs": len(stages)}
    if task == "fastmode":  # one precision of one model on the simulated epochs: embeddings, stages, speed
        from sleeplm.encoder.model import SleepLM, load_model
        from sleeplm.eval.staging import load_prompts, predict_stages

        data = np.load(a["data"])
        x = data["x"][: a["epochs"]]
        if a["model"] == "sleeplm-tiny":
            lm = load_model("sleeplm-tiny")
        else:  # the base architecture with random weights, seed 0, and its CLIP tokenizer
            lm = SleepLM(_seeded("sleeplm-base"))
        if a["precision"] != "fp32":
            lm.to_precision(a["precision"])
        lm.encode_signal(x[: a["batch"]], batch_size=a["batch"])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        emb = lm.encode_signal(x, batch_size=a["batch"])
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        pred = predict_stages(lm, emb, load_prompts())
        np.savez(a["out"], emb=emb, pred=pred.astype(str))
        return {"epochs_per_s": len(x) / dt, "epochs_per_cpu_s": len(x) / dc}
    if task == "decode":  # the cached greedy decoder alone, on given decoder tokens (no encoder)
        from sleeplm.encoder.model.generation import greedy_generate

        torch.manual_seed(1)
        model = _seeded("sleeplm-base").to(dev).eval()
        memory = torch.randn(a["rows"], model.cfg.biosignals_cfg.decoder_tokens, model.cfg.width, device=dev)
        mods = torch.tensor([[i % 5, -1] for i in range(a["rows"])], device=dev)
        greedy_generate(model, None, mods[:2], max_len=4, min_len=4, memory=memory[:2])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        ids = greedy_generate(model, None, mods, max_len=a["max_len"], min_len=a["max_len"], memory=memory)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        n = sum(len(r) - 1 for r in ids)
        return {"tokens_per_s": n / dt, "tokens_per_cpu_s": n / dc, "ids": ids}
    if task == "profile":  # torch.profiler over one encode_image call: self time per op
        from torch.profiler import ProfilerActivity, profile

        model = _seeded("sleeplm-base").to(dev).eval()
        x = torch.randn(a["batch"], 10, 1920, device=dev)
        with torch.inference_mode():
            model.encode_image(x[:1])
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                model.encode_image(x)
        ops = sorted(((e.key, e.self_cpu_time_total) for e in prof.key_averages()), key=lambda kv: -kv[1])
        return {"ops_self_us": ops}
    lm = _base_model(dev)
    if task == "encode":
        prec = a.get("precision", "fp32")
        if prec != "fp32":
            lm.to_precision(prec)
        out, cpu = {}, {}
        x = _signals(max(a["batches"]))
        emb = lm.encode_signal(x[: a["agree_n"]], batch_size=a["agree_n"]) if a.get("agree_n") else None
        for b in a["batches"]:
            lm.encode_signal(x[:b], batch_size=b)  # warm-up
            _sync(dev)
            reps, t0, c0 = 0, time.perf_counter(), time.process_time()
            while reps < a["reps"]:
                lm.encode_signal(x[:b], batch_size=b)
                reps += 1
            _sync(dev)
            out[str(b)] = b * reps / (time.perf_counter() - t0)
            cpu[str(b)] = b * reps / (time.process_time() - c0)
        if emb is not None:
            np.save(a["emb_out"], emb)
        return {"epochs_per_s": out, "epochs_per_cpu_s": cpu}
    if task == "captions":
        from sleeplm.encoder.model.api import track_index

        x = _signals(a["epochs"])
        ml = a["max_len"]
        _sync(dev)
        t0, c0 = time.perf_counter(), time.process_time()
        if a["mode"] == "per_epoch":  # today's caption_epoch: one epoch, one track at a time
            ids = [[lm.generate_ids(x[i : i + 1], t, max_len=ml)[0] for t in TRACKS] for i in range(len(x))]
        elif a["mode"] == "uncached":  # re-run the whole model on the prefix every step
            ids = [[lm.generate_ids(x[i : i + 1], t, max_len=ml, use_cache=False)[0] for t in TRACKS] for i in range(len(x))]
        else:
            if a.get("precision", "fp32") != "fp32":
                lm.to_precision(a["precision"])
            rows = lm.caption_batch_ids(x, TRACKS, max_len=ml, batch_rows=a.get("batch_rows", 64))
            ids = [[r[t] for t in TRACKS] for r in rows]
        _sync(dev)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        assert all(track_index(t) >= 0 for t in TRACKS)
        return {"seconds": dt, "epochs_per_s": len(x) / dt, "cpu_s": dc, "epochs_per_cpu_s": len(x) / dc, "ids": ids,
                "tokens": sum(len(r) - 1 for e in ids for r in e)}
    raise ValueError(task)


# ----------------------------------------------------------------------------------------- driver
def run_worker(tree: Path, task: str, args: dict, timeout: float = 3600) -> dict:
    pkg = Path(tempfile.mkdtemp(prefix="sleeplm-pkg-"))
    (pkg / "sleeplm").symlink_to(tree)
    extra = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=str(pkg) + (os.pathsep + extra if extra else ""), PYTHONWARNINGS="ignore")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task, json.dumps(args)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(pkg))
    if p.returncode:
        raise RuntimeError(f"worker {task} in {tree} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def baseline_tree(arg: str | None, commit: str = BASELINE_COMMIT) -> Path:
    if arg:
        return Path(arg).resolve()
    d = Path(tempfile.mkdtemp(prefix=f"sleeplm-{commit}-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(d), commit],
                   check=True, capture_output=True)
    return d


def section_encoder(a, old: Path, res: dict) -> None:
    import numpy as np

    tmp = Path(tempfile.mkdtemp())
    rows = []
    common = {"device": a.device, "threads": a.threads, "batches": a.enc_batches, "reps": a.enc_reps, "agree_n": a.agree_n}
    best = {}
    for r in range(a.rounds):
        for name, tree, prec in [("today fp32", old, "fp32"), ("new fp32", ROOT, "fp32")]:
            out = run_worker(tree, "encode", {**common, "precision": prec, "emb_out": str(tmp / f"{name}.npy")})
            for b, v in out["epochs_per_s"].items():
                best[(name, b)] = max(best.get((name, b), 0), v)
    fast = ["bf16"] + (["int8"] if a.device == "cpu" else [])
    for prec in fast:
        out = run_worker(ROOT, "encode", {**common, "precision": prec, "emb_out": str(tmp / f"new {prec}.npy")})
        for b, v in out["epochs_per_s"].items():
            best[(f"new {prec}", b)] = v
    ref = np.load(tmp / "today fp32.npy")
    agree = {}
    for name in ["new fp32"] + [f"new {p}" for p in fast]:
        e = np.load(tmp / f"{name}.npy")
        cos = (ref * e).sum(1)
        sims_r, sims_e = ref @ ref.T, e @ e.T
        top_r, top_e = np.argsort(-sims_r, 1)[:, :10], np.argsort(-sims_e, 1)[:, :10]
        same = np.mean([set(x) == set(y) for x, y in zip(top_r, top_e)])
        agree[name] = {"max_abs_diff": float(np.abs(ref - e).max()), "min_cosine": float(cos.min()),
                       "mean_cosine": float(cos.mean()), "identical_top10_share": float(same)}
    for (name, b), v in sorted(best.items(), key=lambda kv: (int(kv[0][1]), kv[0][0])):
        rows.append({"impl": name, "batch": int(b), "epochs_per_s": v,
                     "ratio_vs_today": v / best[("today fp32", b)], "gflop_per_s": v * 118.0, **agree.get(name, {})})
    res["encoder"] = rows
    print(f"\n## encoder ({a.device}, sleeplm-base, 118 GFLOP/epoch)\n| impl | batch | epochs/s | x today | GFLOP/s | max|d| vs today | min cos | top-10 same |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['impl']} | {r['batch']} | {r['epochs_per_s']:.3f} | {r['ratio_vs_today']:.2f} | {r['gflop_per_s']:.0f} | "
              f"{r.get('max_abs_diff', float('nan')):.2e} | {r.get('min_cosine', float('nan')):.5f} | {r.get('identical_top10_share', float('nan')):.2f} |")


def section_load(a, old: Path, res: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sleeplm-ckpt-"))
    ck = tmp / "sleeplm_base.pt"
    code = ("import torch; from sleeplm.encoder.model import create_model, save_checkpoint; torch.manual_seed(0); "
            f"save_checkpoint(create_model('sleeplm-base'), {str(ck)!r})")
    pkg = Path(tempfile.mkdtemp()); (pkg / "sleeplm").symlink_to(ROOT)
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=str(pkg)), cwd=str(pkg))
    size_mb = ck.stat().st_size / 2**20
    rows = []
    for name, tree in [("today", old), ("new (meta + mmap + assign)", ROOT)]:
        r = run_worker(tree, "load", {"path": str(ck)})
        r.update(impl=name, file_mb=size_mb, peak_over_file=r["peak_after_touch_mb"] / size_mb,
                 added_over_file=(r["peak_after_touch_mb"] - r["baseline_rss_mb"]) / size_mb)
        rows.append(r)
    ck.unlink()
    res["load"] = rows
    print(f"\n## load (checkpoint {size_mb:.0f} MiB, peak RSS in a subprocess)\n| impl | before load MiB | peak after load MiB | peak after touching all weights MiB | peak / file | (peak - before) / file | load s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['impl']} | {r['baseline_rss_mb']:.0f} | {r['peak_after_load_mb']:.0f} | {r['peak_after_touch_mb']:.0f} | "
              f"{r['peak_over_file']:.2f} | {r['added_over_file']:.2f} | {r['load_s']:.2f} |")


def section_captions(a, old: Path, res: dict) -> None:
    common = {"device": a.device, "threads": a.threads, "max_len": a.max_len}
    today = run_worker(old, "captions", {**common, "mode": "per_epoch", "epochs": a.cap_single_epochs})
    unc = run_worker(old, "captions", {**common, "mode": "uncached", "epochs": a.cap_single_epochs})
    rows = [("today: one epoch x one track at a time (cached)", today), ("plain uncached greedy loop (= official tokens)", unc)]
    for prec in ["fp32"] + (["bf16"] if a.device != "cpu" else []):
        for n in a.cap_epochs:
            r = run_worker(ROOT, "captions", {**common, "mode": "batched", "epochs": n, "precision": prec, "batch_rows": a.batch_rows})
            rows.append((f"new batched {prec}: {n} epochs x 5 tracks", r))
    k = a.cap_single_epochs
    out = []
    for name, r in rows:
        same = r["ids"][:k] == today["ids"][:k]
        same_unc = r["ids"][:k] == unc["ids"][:k]
        out.append({"impl": name, "epochs_per_s": r["epochs_per_s"], "seconds": r["seconds"], "tokens": r["tokens"],
                    "x_today": r["epochs_per_s"] / today["epochs_per_s"], "x_uncached": r["epochs_per_s"] / unc["epochs_per_s"],
                    "cpu_s": r["cpu_s"], "cpu_s_per_epoch": 1 / r["epochs_per_cpu_s"], "x_uncached_cpu": r["epochs_per_cpu_s"] / unc["epochs_per_cpu_s"],
                    "x_today_cpu": r["epochs_per_cpu_s"] / today["epochs_per_cpu_s"],
                    "tokens_identical_to_today": same, "tokens_identical_to_uncached": same_unc})
    res["captions"] = out
    print(f"\n## captions ({a.device}, sleeplm-base random weights, 5 tracks per epoch, max_len {a.max_len})")
    print("| path | epochs/s | x today | x uncached | CPU s / epoch | x today (CPU) | x uncached (CPU) | same tokens as today | same as uncached |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in out:
        print(f"| {r['impl']} | {r['epochs_per_s']:.4f} | {r['x_today']:.1f} | {r['x_uncached']:.1f} | "
              f"{r['cpu_s_per_epoch']:.2f} | {r['x_today_cpu']:.1f} | {r['x_uncached_cpu']:.1f} | "
              f"{r['tokens_identical_to_today']} | {r['tokens_identical_to_uncached']} |")


def section_decode(a, old: Path, res: dict) -> None:
    """The KV-cached decoder alone, this tree vs ``--decode-baseline`` (a commit), alternating."""
    tree = baseline_tree(None, a.decode_baseline)
    common = {"device": a.device, "threads": a.threads, "rows": a.decode_rows, "max_len": a.max_len}
    runs: dict[str, list[dict]] = {a.decode_baseline: [], "this tree": []}
    for _ in range(a.rounds):
        runs[a.decode_baseline].append(run_worker(tree, "decode", common))
        runs["this tree"].append(run_worker(ROOT, "decode", common))
    ref_ids = runs[a.decode_baseline][0]["ids"]
    rows = []
    for name, rs in runs.items():
        rows.append({"impl": name, "rows": a.decode_rows, "max_len": a.max_len,
                     "tokens_per_s": max(r["tokens_per_s"] for r in rs), "tokens_per_cpu_s": max(r["tokens_per_cpu_s"] for r in rs),
                     "same_tokens": all(r["ids"] == ref_ids for r in rs)})
    for r in rows:
        r["x_baseline_wall"] = r["tokens_per_s"] / rows[0]["tokens_per_s"]
        r["x_baseline_cpu"] = r["tokens_per_cpu_s"] / rows[0]["tokens_per_cpu_s"]
    res["decode"] = rows
    print(f"\n## cached greedy decoder alone ({a.device}, sleeplm-base random weights, {a.decode_rows} rows, max_len {a.max_len}, best of {a.rounds})")
    print("| tree | tokens/s | tokens / CPU s | x baseline (wall) | x baseline (CPU) | same tokens |\n|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['impl']} | {r['tokens_per_s']:.2f} | {r['tokens_per_cpu_s']:.2f} | {r['x_baseline_wall']:.3f} | "
              f"{r['x_baseline_cpu']:.3f} | {r['same_tokens']} |")


def section_profile(a, old: Path, res: dict) -> None:
    """Where the base encoder's time goes (this tree), per op, at ``--enc-batches``."""
    for b in a.enc_batches:
        ops = run_worker(ROOT, "profile", {"device": a.device, "threads": a.threads, "batch": b})["ops_self_us"]
        total = sum(t for _, t in ops)
        gemm = sum(t for k, t in ops if k in ("aten::mm", "aten::addmm", "aten::bmm"))
        res.setdefault("profile", {})[str(b)] = {"gemm_share": gemm / total, "ops_self_us": ops}
        print(f"\n## encoder profile ({a.device}, sleeplm-base, batch {b}, threads {a.threads or 'default'}): "
              f"GEMMs {100 * gemm / total:.1f} % of self time; at most {total / gemm:.2f}x if all else took no time")
        print("| op | self time % |\n|---|---:|")
        for k, t in ops[:12]:
            print(f"| {k} | {100 * t / total:.1f} |")


def _top10(e):
    import numpy as np

    sims = e @ e.T
    np.fill_diagonal(sims, -np.inf)  # an epoch is not its own neighbour
    return np.argsort(-sims, 1)[:, :10]


def section_fastmode(a, old: Path, res: dict) -> None:
    """Agreement of the opt-in fast modes with float32: trained sleeplm-tiny and the base architecture."""
    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="sleeplm-fast-"))
    data = tmp / "epochs.npz"
    n = run_worker(ROOT, "simdata", {"nights": a.fast_nights, "duration_h": a.fast_hours, "seed": 2026, "out": str(data)})["epochs"]
    truth = np.load(data)["stages"]
    rows = []
    for model, n_ep in [("sleeplm-tiny", n), ("sleeplm-base (random weights)", min(n, a.fast_base_epochs))]:
        precs = ["fp32", "int8", "bf16"] if a.device == "cpu" else ["fp32", "bf16", "fp16"]
        if model != "sleeplm-tiny" and not a.fast_base_bf16:
            precs = [p for p in precs if p != "bf16"]
        outs = {}
        for prec in precs:
            f = tmp / f"{model.split()[0]}-{prec}.npz"
            r = run_worker(ROOT, "fastmode", {"device": a.device, "threads": a.threads, "model": model.split()[0],
                                              "precision": prec, "data": str(data), "epochs": n_ep,
                                              "batch": a.fast_batch, "out": str(f)})
            outs[prec] = (r, np.load(f))
        ref_r, ref = outs["fp32"]
        top_ref = _top10(ref["emb"])
        scored = truth[:n_ep] != "unscored"
        for prec, (r, o) in outs.items():
            cos = (ref["emb"] * o["emb"]).sum(1)
            rows.append({"model": model, "precision": prec, "epochs": n_ep,
                         "x_fp32_wall": r["epochs_per_s"] / ref_r["epochs_per_s"],
                         "x_fp32_cpu": r["epochs_per_cpu_s"] / ref_r["epochs_per_cpu_s"],
                         "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                         "stage_agreement": float(np.mean(o["pred"] == ref["pred"])),
                         "stage_accuracy": float(np.mean(o["pred"][scored] == truth[:n_ep][scored])),
                         # with few epochs every set of 10 neighbours is nearly the whole set: not measured
                         "identical_top10_share": float(np.mean([set(x) == set(y) for x, y in zip(top_ref, _top10(o["emb"]))]))
                         if n_ep > 30 else float("nan"),
                         "epochs_per_cpu_s": r["epochs_per_cpu_s"]})
    res["fastmode"] = rows
    print(f"\n## fast modes vs float32 ({a.device}; {n} epochs of {a.fast_nights} simulated held-out nights, seed 2026; "
          f"stages = zero-shot staging, eval/staging.py)")
    print("| model | precision | epochs | x fp32 (wall) | x fp32 (CPU) | min cos | mean cos | same stage | stage accuracy | identical top-10 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['epochs']} | {r['x_fp32_wall']:.2f} | {r['x_fp32_cpu']:.2f} | {r['min_cosine']:.5f} | "
              f"{r['mean_cosine']:.6f} | {r['stage_agreement']:.3f} | {r['stage_accuracy']:.3f} | {r['identical_top10_share']:.3f} |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], json.loads(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--sections", nargs="+", default=["encoder", "load", "captions"])
    ap.add_argument("--baseline-dir", default=None, help="a checkout of 1e48198 (default: git worktree add)")
    ap.add_argument("--enc-batches", nargs="+", type=int, default=[2])
    ap.add_argument("--enc-reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--agree-n", type=int, default=64, help="epochs used for the agreement metrics")
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--cap-single-epochs", type=int, default=1)
    ap.add_argument("--cap-epochs", nargs="+", type=int, default=[2])
    ap.add_argument("--batch-rows", type=int, default=64)
    ap.add_argument("--decode-baseline", default="cf653ce", help="decode: the commit to compare the decoder with")
    ap.add_argument("--decode-rows", type=int, default=20, help="decode: rows (epochs x tracks) decoded together")
    ap.add_argument("--fast-nights", type=int, default=2, help="fastmode: simulated held-out nights (seed 2026)")
    ap.add_argument("--fast-hours", type=float, default=2.0, help="fastmode: hours per night")
    ap.add_argument("--fast-base-epochs", type=int, default=48, help="fastmode: epochs for the base architecture")
    ap.add_argument("--fast-base-bf16", action="store_true", help="fastmode: also bf16 on the base architecture (slow on CPUs without bf16 units)")
    ap.add_argument("--fast-batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "model_speed.json")
    a = ap.parse_args()
    old = baseline_tree(a.baseline_dir)
    res: dict = {"meta": {"device": a.device, "machine": platform.machine(), "cpus": os.cpu_count(),
                          "baseline": BASELINE_COMMIT, "args": {k: str(v) for k, v in vars(a).items()}}}
    if a.device.startswith("cuda"):
        import torch

        res["meta"]["gpu"] = torch.cuda.get_device_name(0)
    for s in a.sections:
        load0 = os.getloadavg()
        {"encoder": section_encoder, "load": section_load, "captions": section_captions, "fastmode": section_fastmode,
         "decode": section_decode, "profile": section_profile}[s](a, old, res)
        res["meta"].setdefault("load_average_1min", {})[s] = {"start": load0[0], "end": os.getloadavg()[0]}
        print(f"load average (1 min) at start / end of {s}: {load0[0]:.1f} / {os.getloadavg()[0]:.1f}")
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
