#!/usr/bin/env bash
# Pack the installed faiss-gpu 1.15.1 for a device machine that has CUDA 13 only (no faiss, no cuBLAS 12):
# libfaiss.so thinned to sm_90 SASS, the wheel's own libcudart.so.12, and a libcublas.so.12 shim that forwards
# the 8 cuBLAS calls faiss makes to libcublas.so.13 (same C ABI). Writes .gpu/faiss_pkg.tar.xz (~19 MB;
# .gpu/ is git-ignored via .git/info/exclude) and .gpu/run.sh, which unpacks it there and runs gpu_bench.sh.
# Usage (repo root, with the project's venv): bash bench/gpu_faiss/build.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
SP=$(python -c 'import faiss, pathlib; print(pathlib.Path(faiss.__file__).parents[1])')
W=$(mktemp -d); mkdir -p "$W/site" "$W/lib"
cp -r "$SP/faiss" "$SP/faiss_gpu.libs" "$W/site/"
rm -rf "$W/site/faiss/__pycache__" "$W/site/faiss/_gpu_build.py"  # no pip-wheel preload: LD_LIBRARY_PATH finds the libs
python "$HERE/thin_fatbin.py" "$SP/faiss/libfaiss.so" "$W/site/faiss/libfaiss.so" --keep 90
cp "$SP/nvidia/cuda_runtime/lib/libcudart.so.12" "$W/lib/"
gcc -O2 -shared -fPIC -o "$W/lib/libcublas.so.12" -Wl,-soname,libcublas.so.12 \
  -Wl,--version-script="$HERE/cublas.map" "$HERE/cublas_shim.c" -ldl
gcc -O2 -shared -fPIC -o "$W/lib/libcublasLt.so.12" -Wl,-soname,libcublasLt.so.12 \
  -Wl,--version-script="$HERE/lt.map" "$HERE/lt.c"
mkdir -p "$ROOT/.gpu"; grep -qx '/.gpu/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$ROOT/.git/info/exclude"
tar -cf - -C "$W" . | xz -T2 -9e > "$ROOT/.gpu/faiss_pkg.tar.xz"
cp "$HERE/run.sh" "$ROOT/.gpu/run.sh"
ls -la "$ROOT/.gpu"
