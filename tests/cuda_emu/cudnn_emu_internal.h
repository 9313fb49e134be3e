// cudnn_emu_internal.h — what the emulated cuDNN's two halves share: the legacy API
// (cudnn_emu.cpp) and the graph API (cudnn_graph_emu.cpp) run the same plain-loop convolution.
#pragma once
#include <initializer_list>

namespace cuda_emu {
enum Dir { FWD, BWD_DATA, BWD_FILTER };

struct Shape {
  int n, c, h, w, k, r, s, ho, wo, pad_h, pad_w, u, v;
  bool flip;  // CUDNN_CONVOLUTION: the filter is applied mirrored
};

// Queues direction dir of the convolution on h's stream: out = alpha * op(in1, in2) + beta * out,
// (in1, in2, out) being (x, w, y) forward, (dy, w, dx) backward-data, (x, dy, dw) backward-filter.
// The workspace's first ws_need bytes are overwritten; the op takes `ms` of device time.
cudnnStatus_t queue_conv(cudnnHandle_t h, const char *call, Dir dir, const Shape &s, float alpha, float beta,
                         const void *in1, const void *in2, void *out, void *ws, size_t ws_need, double ms);
// FNV-1a over the values: the emulator's made-up but fixed choices.
uint64_t made_up_hash(const std::initializer_list<int> &v);
}  // namespace cuda_emu
