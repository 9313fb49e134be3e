// torch_ref.h — PyTorch running the same UNet (tests/bench/torch_unet.py) beside `stepscope
// bench`, for a ratio measured in the same run.
#pragma once
#include <stdio.h>
#include <sys/types.h>

extern char torch_version[32];  // as the script last printed it ("?" before)

// One run of the script (`extra`: more options): its ms per step, or -1 when there is no
// python3 with torch, no script (outside a checkout), or it failed. A PyTorch model with another
// parameter count than `params` is refused with a message: the ratio would mean nothing.
double torch_ms(const char *mode, const char *config, int batch, int threads, int steps, const char *device,
                const char *extra, long params);

// The script as a process that warms up once and then times `steps` steps each time it is asked
// (torch_turn), so that stepscope and PyTorch can take turns on the machine: a slow spell of the
// machine (this VM has them, seconds long) then falls on both sides instead of one.
typedef struct {
  pid_t pid;
  FILE *to, *from;  // its stdin, its stdout (stderr joined)
} TorchProc;
int torch_open(TorchProc *tp, const char *mode, const char *config, int batch, int threads, int steps,
               const char *device, long params);  // 0, or -1 as torch_ms's
double torch_turn(TorchProc *tp);                  // ms per step of one turn, -1 when the process failed
void torch_close(TorchProc *tp);
