#include "commands.h"
#include <stdio.h>

Backend *cli_backend(const char *device, int threads) {
  Err e;
  Backend *be = backend_create(device ? device : "auto", threads, &e);
  if (!be) fprintf(stderr, "stepscope: %s\n", e.msg);
  return be;
}
