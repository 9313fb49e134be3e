#include "tui/assets.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

int asset_path(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "assets/%s", name);
  if (access(out, R_OK) == 0) return 1;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    const char *dir = dirname(exe);
    const char *rel[] = {"../assets", "assets", "../share/stepscope/assets"};
    for (int i = 0; i < 3; i++) {
      snprintf(out, cap, "%s/%s/%s", dir, rel[i], name);
      if (access(out, R_OK) == 0) return 1;
    }
  }
  snprintf(out, cap, "assets/%s", name);
  return 0;
}
