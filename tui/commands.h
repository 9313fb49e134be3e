// commands.h — the subcommands of the stepscope binary, one file each (tui/cmd_*.c).
// Each returns the process exit status: 0 success, 1 failure, 2 bad usage.
#pragma once
#include "../kernels/backend.h"

int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tui(int argc, char **argv);

// Opens the backend named by --device (auto|cpu|cuda); prints the error and returns NULL.
Backend *cli_backend(const char *device, int threads);
