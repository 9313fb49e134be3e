// backend_recorder.h — a CPU stand-in for CUDA graphs, to test graph use without a GPU.
//
// It wraps another backend. Outside a capture every op runs at once; between capture_begin
// and capture_end queued ops are only recorded (as a CUDA stream capture does), and
// graph_launch replays them with the recorded pointers and scalars. Calls that a CUDA
// capture would refuse (alloc, free, upload, download, sync, sumsq) are counted as
// violations. Freed memory is filled with NaN and never reused, so a replay that reads or
// writes memory which moved since the recording is counted (freed_touched), and reads of it
// give NaN.
#pragma once
#include "kernels/backend.h"

typedef struct {
  long captures, launches;  // graphs recorded, replays run
  int violations;           // forbidden calls made during a capture
  long freed_touched;       // replayed calls that touched freed memory (a stale graph)
  char first_violation[64];
  int fail_next_capture;    // set: the next capture_end fails (returns NULL)
} RecorderStats;

Backend *backend_recorder_wrap(Backend *inner);  // destroy also destroys inner
RecorderStats *backend_recorder_stats(Backend *rec);
