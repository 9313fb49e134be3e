// The layers point one way: tests -> tui -> engine -> kernels, and inside tui/ cli -> explorer
// -> termgfx. Read from the tracked sources (git ls-files, run from the repository root, where
// the tests run): every quoted #include is resolved to the file it names (beside the includer
// first, then from the root, as -I. does), and each check below names every offending file and
// include. A module is a path without its extension (x.c and x.h are one), so a circle of
// includes between modules is a circle of files that need each other.
#include "test.h"
#include "kernels/base.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 800


typedef struct {
  int from;         // the includer (index into files)
  int line;         // where the include is
  char spelt[256];  // as written between the quotes
  int to;           // the file it resolves to (index into files), -1 outside the tree
} Include;

typedef struct {
  char path[256];
  int lines;
  int module;  // index into modules
} Source;

static Source *files;
static int nfiles;
static Include *incs;
static int nincs;
static char (*modules)[256];
static int nmodules;
static const char *load_error;  // why the sources could not be read (the tests then skip)
static char report[16384];      // what the failing check names, a line each

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {  // appends to report
  size_t len = strlen(report);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(report + len, sizeof report - len, fmt, ap);
  va_end(ap);
}

static int is_source(const char *p) {
  const char *dot = strrchr(p, '.');
  if (!dot || strchr(dot, '/')) return 0;
  static const char *const ext[] = {".c", ".h", ".cu", ".cuh", ".cpp"};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (!strcmp(dot, ext[i])) return 1;
  return 0;
}

static int find_file(const char *path) {
  for (int i = 0; i < nfiles; i++)
    if (!strcmp(files[i].path, path)) return i;
  return -1;
}

// dir + "/" + rel with "." and ".." folded; "" for a path that climbs out of the tree.
static void join(const char *dir, const char *rel, char *out, size_t cap) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s%s", dir, *dir ? "/" : "", rel);
  char *part[64];
  int n = 0;
  for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
    if (!strcmp(tok, ".")) continue;
    if (!strcmp(tok, "..")) {
      if (!n) { out[0] = 0; return; }
      n--;
    } else if (n < 64) part[n++] = tok;
  }
  out[0] = 0;
  for (int i = 0; i < n; i++) snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "/" : "", part[i]);
}

// The file an include names: beside the includer, else from the root; -1 outside the tree
// (a system header written in quotes).
static int resolve(const char *from, const char *spelt) {
  char dir[256], path[512];
  snprintf(dir, sizeof dir, "%s", from);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else dir[0] = 0;
  join(dir, spelt, path, sizeof path);
  int i = path[0] ? find_file(path) : -1;
  if (i < 0) {
    join("", spelt, path, sizeof path);
    i = path[0] ? find_file(path) : -1;
  }
  return i;
}

static int module_of(const char *path) {
  char m[256];
  snprintf(m, sizeof m, "%s", path);
  char *dot = strrchr(m, '.');
  if (dot && !strchr(dot, '/')) *dot = 0;
  for (int i = 0; i < nmodules; i++)
    if (!strcmp(modules[i], m)) return i;
  modules = xrealloc(modules, sizeof *modules * (nmodules + 1));
  snprintf(modules[nmodules], sizeof modules[nmodules], "%s", m);
  return nmodules++;
}

// Reads the tracked sources once: their line counts and their quoted includes.
static int load(void) {
  if (files || load_error) return load_error ? -1 : 0;
  FILE *p = popen("git ls-files 2>/dev/null", "r");
  if (!p) return load_error = "cannot run git", -1;
  char line[512];
  while (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = 0;
    if (!is_source(line)) continue;
    files = xrealloc(files, sizeof *files * (nfiles + 1));
    Source *s = &files[nfiles++];
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%.*s", (int)sizeof s->path - 1, line);
  }
  if (pclose(p) != 0 || nfiles == 0) return load_error = "not run in a git checkout of stepscope", -1;
  for (int i = 0; i < nfiles; i++) {
    files[i].module = module_of(files[i].path);
    FILE *f = fopen(files[i].path, "r");
    if (!f) continue;  // deleted from the work tree, not yet from the index
    char text[4096];
    while (fgets(text, sizeof text, f)) {
      files[i].lines++;
      const char *c = text + strspn(text, " \t");
      if (*c != '#') continue;
      c += 1 + strspn(c + 1, " \t");
      if (strncmp(c, "include", 7)) continue;
      c += 7 + strspn(c + 7, " \t");
      const char *end = *c == '"' ? strchr(c + 1, '"') : NULL;
      if (!end) continue;  // <system> headers and macro includes
      incs = xrealloc(incs, sizeof *incs * (nincs + 1));
      Include *in = &incs[nincs++];
      in->from = i;
      in->line = files[i].lines;
      snprintf(in->spelt, sizeof in->spelt, "%.*s", (int)(end - c - 1), c + 1);
      in->to = resolve(files[i].path, in->spelt);
    }
    fclose(f);
  }
  return 0;
}

static int under(const char *path, const char *dir) { return !strncmp(path, dir, strlen(dir)); }

// Appends one line about each include from a file under `from` ("" for any) but not under
// `except` (NULL for none) that reaches a file under `banned`; returns how many.
static int banned_includes(const char *from, const char *except, const char *banned) {
  int bad = 0;
  for (int k = 0; k < nincs; k++) {
    const Include *in = &incs[k];
    const char *path = files[in->from].path;
    if (in->to < 0 || !under(path, from) || (except && under(path, except))) continue;
    const char *to = files[in->to].path;
    if (!under(to, banned)) continue;
    bad++;
    note("\n  %s:%d includes \"%s\" (%s): %s must not reach %s", path, in->line, in->spelt, to, path, banned);
  }
  return bad;
}

// One rule of the layers: files under `from`, except those under `except`, include nothing
// under any of `banned` (a NULL-terminated list).
static void points_down(const char *from, const char *except, const char *const *banned) {
  if (load()) { test_skip(load_error); return; }
  report[0] = 0;
  int bad = 0;
  for (; *banned; banned++) bad += banned_includes(from, except, *banned);
  ASSERTF(!bad, "%d includes point the wrong way:%s", bad, report);
}
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

TEST(layers_kernels_reach_neither_engine_nor_tui) { points_down("kernels/", NULL, NAMES("engine/", "tui/")); }
TEST(layers_engine_does_not_reach_tui) { points_down("engine/", NULL, NAMES("tui/")); }
// Generic training, sampling and data never rest on the SAT code built on them.
TEST(layers_engine_core_does_not_reach_sat) { points_down("engine/", "engine/sat/", NAMES("engine/sat/")); }
TEST(layers_termgfx_reaches_neither_explorer_nor_cli) {
  points_down("tui/termgfx/", NULL, NAMES("tui/explorer/", "tui/cli/"));
}
TEST(layers_explorer_does_not_reach_cli) { points_down("tui/explorer/", NULL, NAMES("tui/cli/")); }
// Production code never names the tests: the CUDA emulator stands in from outside.
TEST(layers_only_tests_reach_tests) { points_down("", "tests/", NAMES("tests/")); }

// Depth-first search over the module graph; a back edge closes a circle, reported from the
// module it re-enters.
enum { WHITE, GREY, BLACK };
static int *colour, *stack, depth, circles;

static void visit(int m) {
  colour[m] = GREY;
  stack[depth++] = m;
  for (int k = 0; k < nincs; k++) {
    if (incs[k].to < 0) continue;
    int from = files[incs[k].from].module, to = files[incs[k].to].module;
    if (from != m || to == m) continue;
    if (colour[to] == WHITE) { visit(to); continue; }
    if (colour[to] != GREY) continue;
    int d = depth - 1;
    while (stack[d] != to) d--;
    circles++;
    note("\n  ");
    for (; d < depth; d++) note("%s -> ", modules[stack[d]]);
    note("%s (%s:%d includes \"%s\")", modules[to], files[incs[k].from].path, incs[k].line, incs[k].spelt);
  }
  depth--;
  colour[m] = BLACK;
}

TEST(layers_no_include_circles) {
  if (load()) { test_skip(load_error); return; }
  report[0] = 0;
  colour = xcalloc(nmodules, sizeof *colour);
  stack = xcalloc(nmodules, sizeof *stack);
  depth = circles = 0;
  for (int m = 0; m < nmodules; m++)
    if (colour[m] == WHITE) visit(m);
  free(colour);
  free(stack);
  ASSERTF(!circles, "%d circles of modules, a module being a path without its extension:%s", circles, report);
}

TEST(layers_no_file_over_800_lines) {
  if (load()) { test_skip(load_error); return; }
  report[0] = 0;
  int bad = 0;
  for (int i = 0; i < nfiles; i++)
    if (files[i].lines > MAX_LINES) {
      bad++;
      note("\n  %s: %d lines", files[i].path, files[i].lines);
    }
  ASSERTF(!bad, "%d files over %d lines:%s", bad, MAX_LINES, report);
}
