// common.h — what every module of the program uses: the kernels' base (errors as values,
// CHECK, checked allocation, the clock: kernels/base.h) and the program's own helpers.
#pragma once
#include "../kernels/base.h"

// Atomic saves write PATH.tmp.<pid>, then rename it over PATH. A process killed mid-save
// (SIGKILL, power loss) leaves its temporary behind; the next save of the same PATH calls
// this first, which removes PATH.tmp.<pid> for every pid that is no longer running (never
// its own, never a live writer's). Returns how many it removed.
int remove_stale_temporaries(const char *path);
