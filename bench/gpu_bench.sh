#!/usr/bin/env bash
# One device run: environment probe, SleepLM-Base encoder/captions on CUDA (this tree vs 1e48198),
# FAISS GPU vs CPU. Results land in $OUT (default bench/results/gpu). Usage: bash bench/gpu_bench.sh
set -u
OUT=${OUT:-bench/results/gpu}; mkdir -p "$OUT"
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
$PY -c 'import torch;print("torch", torch.__version__, torch.cuda.is_available())' | tee -a "$OUT/gpu.txt"
# the model code imports ftfy/regex at module level; the bench never tokenizes, so shims do if missing
SHIM=$(mktemp -d)
$PY -c 'import ftfy' 2>/dev/null || echo 'def fix_text(t): return t' > "$SHIM/ftfy.py"
$PY -c 'import regex' 2>/dev/null || echo 'from re import *' > "$SHIM/regex.py"
# this tree importable as `sleeplm` (the FAISS bench runs the workspace's own index code)
ln -s "$PWD" "$SHIM/sleeplm"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
BASE=${BASE:-bench/results/baseline-1e48198}
[ -d "$BASE" ] || { BASE=$(mktemp -d)/tree; git worktree add --detach "$BASE" 1e48198 >/dev/null; }
timeout 250 $PY bench/bench_model_speed.py --device cuda --baseline-dir "$BASE" --sections encoder captions \
  --enc-batches 1 8 32 128 --enc-reps 3 --rounds 1 --agree-n 512 --max-len 64 --cap-single-epochs 1 \
  --cap-epochs 64 --batch-rows 320 --out "$OUT/model_speed_gpu.json" 2>&1 | tee "$OUT/model_speed_gpu.txt"
[ -n "${SKIP_FAISS:-}" ] || timeout 200 $PY bench/bench_faiss_gpu.py --sizes 1000000 10000000 --nq 1000 --out "$OUT/faiss_gpu.json" 2>&1 | tee "$OUT/faiss_gpu.txt"
