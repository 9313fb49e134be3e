// backend.c — picks a backend by name: "cpu", "cpu-ref", "cuda" or "auto".
#include "backend.h"
#include <stdio.h>
#include <string.h>

Backend *backend_create(const char *name, int threads, Err *err) {
  return backend_create_opts(name, threads, NULL, err);
}

Backend *backend_create_opts(const char *name, int threads, const BackendOpts *opts, Err *err) {
  if (!name || !strcmp(name, "auto")) {
#ifdef STEPSCOPE_CUDA
    Err why = {{0}};
    Backend *be = backend_cuda_create(opts, &why);
    if (be) return be;
    fprintf(stderr, "stepscope: no usable CUDA device (%s); using the CPU\n", why.msg);
#endif
    return backend_cpu_create(threads);
  }
  if (!strcmp(name, "cpu")) return backend_cpu_create(threads);
  if (!strcmp(name, "cpu-ref")) return backend_cpu_ref_create();
  if (!strcmp(name, "cuda")) {
#ifdef STEPSCOPE_CUDA
    Err why = {{0}};
    Backend *be = backend_cuda_create(opts, &why);
    if (!be) err_set(err, "no usable CUDA device (%s)", why.msg);  // worded as auto's notice
    return be;
#else
    err_set(err, "this stepscope was built without CUDA");
    return NULL;
#endif
  }
  err_set(err, "unknown device '%s' (valid: auto, cpu, cpu-ref, cuda)", name);
  return NULL;
}

void backend_destroy(Backend *b) {
  if (b) b->destroy(b);
}
