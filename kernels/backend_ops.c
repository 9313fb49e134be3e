// backend_ops.c — what the list of ops (backend_ops.h) builds: decorators over a backend.
#include "backend_ops.h"

Backend *backend_decorate(Backend *inner, void *ctx, const Backend *ops) {
  Backend *be = xcalloc(1, sizeof *be);
  be->name = inner->name;
  be->ctx = ctx;
#define DECORATE(op, kind) be->op = inner->op ? ops->op : NULL;
  BACKEND_OPS(DECORATE)
#undef DECORATE
  return be;
}
