/* libcublas.so.12 shim: forwards the 8 cuBLAS entry points faiss-gpu 1.15.1 calls to libcublas.so.13
   (same C ABI for these functions). Benchmark tooling for a device machine that has CUDA 13 alone. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#define FWD(name) void *real_##name; __attribute__((naked)) void name(void) { __asm__ volatile("jmp *real_" #name "(%rip)"); }
FWD(cublasCreate_v2) FWD(cublasDestroy_v2) FWD(cublasGemmEx) FWD(cublasGemmStridedBatchedEx)
FWD(cublasGetMathMode) FWD(cublasSetMathMode) FWD(cublasSetStream_v2) FWD(cublasSgemmEx)
#define LOAD(name) if (!(real_##name = dlsym(h, #name))) { fprintf(stderr, "cublas shim: %s missing\n", #name); abort(); }
__attribute__((constructor)) static void init(void) {
  const char *p = getenv("CUBLAS13_PATH");
  void *h = dlopen(p ? p : "libcublas.so.13", RTLD_NOW | RTLD_GLOBAL);
  if (!h) { fprintf(stderr, "cublas shim: %s\n", dlerror()); abort(); }
  LOAD(cublasCreate_v2) LOAD(cublasDestroy_v2) LOAD(cublasGemmEx) LOAD(cublasGemmStridedBatchedEx)
  LOAD(cublasGetMathMode) LOAD(cublasSetMathMode) LOAD(cublasSetStream_v2) LOAD(cublasSgemmEx)
}
