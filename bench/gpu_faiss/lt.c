/* libcublasLt.so.12 stand-in: faiss links it but calls none of its functions. */
void cublasLtShimUnused(void) {}
