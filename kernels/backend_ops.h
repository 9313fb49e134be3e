// backend_ops.h — every op of struct Backend (backend.h), in vtable order, as one list:
//   X(name, kind)
// kind QUEUED: the op only queues work on the backend, so a graph capture records it;
// kind HOST:   it hands memory or a value to the host, or waits for the device (the calls a
//              capture refuses: backend.h, "graphs").
// The profiler (backend_profile.c), the tests' graph recorder and the tests that name ops
// expand this list instead of keeping their own: a new op is added to struct Backend and here,
// and the compiler then names each decorator that still lacks it. The graph entries,
// conv_algos, lanes and destroy are not ops (nothing to time or record) and are not listed.
#pragma once
#include "backend.h"

#define BACKEND_OPS(X) \
  X(alloc, HOST) X(free, HOST) X(upload, HOST) X(download, HOST) X(copy, QUEUED) X(fill, QUEUED) \
  X(sync, HOST) \
  X(gemm, QUEUED) \
  X(conv2d_fwd, QUEUED) X(conv2d_bwd_data, QUEUED) X(conv2d_bwd_filter, QUEUED) \
  X(groupnorm_fwd, QUEUED) X(groupnorm_bwd, QUEUED) X(groupnorm_silu_fwd, QUEUED) \
  X(groupnorm_silu_bwd, QUEUED) \
  X(silu_fwd, QUEUED) X(silu_bwd, QUEUED) X(softmax_fwd, QUEUED) X(softmax_bwd, QUEUED) \
  X(add, QUEUED) X(axpy, QUEUED) X(scale, QUEUED) X(mul, QUEUED) X(mul_acc, QUEUED) \
  X(bcast_add, QUEUED) X(bcast_add_bwd, QUEUED) X(chan_copy, QUEUED) \
  X(upsample2x_fwd, QUEUED) X(upsample2x_bwd, QUEUED) \
  X(mse_loss, QUEUED) X(adamw, QUEUED) X(ema, QUEUED) X(sumsq, HOST)

// A decorator over inner (the profiler, the tests' recorder): a new backend with inner's name,
// the decorator's ctx, and for each op inner has the decorator's own from `ops` (a table whose
// op entries are its functions: `.op = w_op` for each, from BACKEND_OPS); an op inner lacks
// stays NULL. The graph entries, conv_algos, lanes and destroy are left NULL for the caller to set.
Backend *backend_decorate(Backend *inner, void *ctx, const Backend *ops);

// Members of struct Backend that are not ops: name, ctx, the four graph entries, conv_algos,
// lanes and destroy. Every member is one pointer, so the struct's size checks the list is whole.
#define BACKEND_NON_OPS 9
#define BACKEND_OP_COUNT_(name, kind) +1
#define BACKEND_NOPS (0 BACKEND_OPS(BACKEND_OP_COUNT_))
_Static_assert(sizeof(Backend) == sizeof(void *) * (BACKEND_NOPS + BACKEND_NON_OPS),
               "struct Backend and BACKEND_OPS disagree: list the new op here");
