// cudnn.h — the emulator in place of the library's header (tests only): cuda_runtime.h here says how.
#pragma once
#include <cuda_runtime.h>
#include "tests/cuda_emu/cudnn_emu.h"
#include "tests/cuda_emu/cudnn_graph_emu.h"
