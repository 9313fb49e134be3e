// cublas_v2.h — the emulator in place of the library's header (tests only): cuda_runtime.h here says how.
#pragma once
#include <cuda_runtime.h>
#include "tests/cuda_emu/cublas_emu.h"
