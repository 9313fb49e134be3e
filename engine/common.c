// common.c — see common.h.
#include "common.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

int remove_stale_temporaries(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char dir[4096];
  if (slash) snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  else snprintf(dir, sizeof dir, ".");
  size_t blen = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  for (struct dirent *ent; (ent = readdir(d));) {
    const char *n = ent->d_name;
    if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5)) continue;
    const char *digits = n + blen + 5;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (!*digits || *end || errno || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", dir, n);
    if (unlink(full) == 0) removed++;
  }
  closedir(d);
  return removed;
}
