// args.h — one declarative option table per subcommand, parsed by args_parse(), which also
// prints the command's --help from the same table: help and parsing cannot drift apart.
//
// A table row names the option, its type, where its value goes, its argument's name and a
// one-line description; what it may hold is declared beside it (a range for numbers, the
// words allowed for a string, required or not), and args_parse() enforces that with a
// one-line message. The default that --help shows is the value the variable holds before
// parsing, unless the row says it in words (.def = "the plan's").
//
// Every error a user can cause ends as one line, `stepscope: <option or file>: <what is
// wrong>`, with exit status 2 for bad usage and 1 for bad data (man/stepscope.1, EXIT STATUS).
#pragma once
#include <stdint.h>
#include <stdio.h>

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_U64, OPT_FLAG, OPT_LIST } OptType;

// An OPT_LIST option may be given several times (`plot --y fid --y kid`): each use appends
// its value; more than OPT_LIST_MAX uses is bad usage.
#define OPT_LIST_MAX 16
typedef struct { const char *v[OPT_LIST_MAX]; int n; } OptList;

typedef struct {
  const char *name;     // "--steps"
  OptType type;
  void *dst;            // const char **, int *, float *, uint64_t *, int * (flag), OptList *
  const char *arg;      // "N" (NULL for flags)
  const char *help;     // one line, without the default
  const char *def;      // the default in words, when the value before parsing does not say it
  double min, max;      // OPT_INT, OPT_FLOAT: the values allowed, when min < max
  const char *choices;  // OPT_STR: the words allowed, "ddim, ddpm" (the engine's *_names() style)
  int required;         // OPT_STR: bad usage unless given
} Opt;

typedef struct {
  const char *cmd;      // "train"
  const char *usage;    // "--out FILE [options]"
  const char *about;    // one paragraph (each cmd_*.c keeps its own at file scope)
  const Opt *opts;
  int nopts;
  int npos_min, npos_max;  // positional arguments allowed
  const char **pos;        // receives them
  const char *pos_name;    // what a missing one is called in the message ("FILE")
} ArgSpec;

#define ARGS_OPTS(table) .opts = (table), .nopts = (int)(sizeof(table) / sizeof((table)[0]))

// The rows of a table, one macro per type; what follows the help is optional and designated:
//   ARG_INT("--n", &n, "N", "images to draw", .min = 1, .max = 4096),
#define ARG_ROW(nm, ty, d, a, h, ...) {.name = (nm), .type = (ty), .dst = (d), .arg = (a), .help = (h), __VA_ARGS__}
#define ARG_STR(nm, d, a, ...) ARG_ROW(nm, OPT_STR, d, a, __VA_ARGS__)
#define ARG_INT(nm, d, a, ...) ARG_ROW(nm, OPT_INT, d, a, __VA_ARGS__)
#define ARG_FLOAT(nm, d, a, ...) ARG_ROW(nm, OPT_FLOAT, d, a, __VA_ARGS__)
#define ARG_U64(nm, d, a, ...) ARG_ROW(nm, OPT_U64, d, a, __VA_ARGS__)
#define ARG_LIST(nm, d, a, ...) ARG_ROW(nm, OPT_LIST, d, a, __VA_ARGS__)
#define ARG_FLAG(nm, d, ...) ARG_ROW(nm, OPT_FLAG, d, NULL, __VA_ARGS__)

// Options that most commands take, declared once.
#define OPT_DEVICE(d) ARG_STR("--device", d, "DEV", "where to compute", .choices = "auto, cpu, cuda")
#define OPT_THREADS(d) ARG_INT("--threads", d, "N", "CPU threads", .def = "all cores", .min = 0, .max = 4096)
#define OPT_QUIET(d) ARG_FLAG("--quiet", d, "no progress output")
#define OPT_GRAPHICS(d) \
  ARG_STR("--graphics", d, "MODE", "how images reach the terminal (auto: ask it)", .choices = "auto, sixel, blocks, none")

// Parses argv (the words after the command's name) into the table's variables.
// Returns ARGS_OK to go on; otherwise the exit status: 0 when --help was shown, 2 on bad
// usage (one line printed).
enum { ARGS_OK = -1 };
int args_parse(const ArgSpec *spec, int argc, char **argv);
void args_usage(const ArgSpec *spec, FILE *f);

// Bad usage found after parsing (conflicting options, say): prints `stepscope: WHAT: ...`
// and returns 2.
int usage_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// A failure the user's data caused, already worded by whoever found it (an Err's message
// names its file): prints `stepscope: MSG` and returns 1.
int data_error(const char *msg);
