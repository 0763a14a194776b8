#!/usr/bin/env bash
# On the device machine (repo root): unpack .gpu/faiss_pkg.tar.xz (bench/gpu_faiss/build.sh), check that faiss
# sees the GPU and searches on it, then run bench/gpu_bench.sh. Device call: carry [".gpu", "bench/results/baseline-1e48198"]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
mkdir -p /tmp/fg && tar -xJf .gpu/faiss_pkg.tar.xz -C /tmp/fg
C13=$(python3 -c "import nvidia.cu13,os;print(os.path.join(list(nvidia.cu13.__path__)[0],'lib'))" 2>/dev/null)
[ -n "$C13" ] && [ -e "$C13/libcublas.so.13" ] || C13=$(dirname "$(find / -name 'libcublas.so.13' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=/tmp/fg/lib:$C13${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} CUBLAS13_PATH=$C13/libcublas.so.13 PYTHONPATH=/tmp/fg/site
{ echo "cublas13: $C13"; python3 -V; nproc; free -g | head -2
  timeout 60 python3 -c "import faiss,numpy as np;print('faiss',faiss.__version__,'gpus',faiss.get_num_gpus());r=faiss.StandardGpuResources();i=faiss.GpuIndexFlatIP(r,8);x=np.random.rand(100,8).astype('float32');i.add(x);print('gpu search ok',i.search(x[:2],3)[1].tolist())" 2>&1 | tail -5
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"
# without a working faiss GPU build, bench_faiss_gpu.py falls back to torch matmul + topk (and says so)
grep -q "gpu search ok" "$OUT/probe.txt" || { echo "faiss GPU unusable: torch fallback"; unset PYTHONPATH LD_LIBRARY_PATH; }
BASE=bench/results/baseline-1e48198 OUT=$OUT bash bench/gpu_bench.sh
