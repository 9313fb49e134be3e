// args.h — table-driven option parsing shared by every subcommand.
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
  const char *metavar;  // "N" (NULL for flags)
  const char *help;
} Opt;

typedef struct {
  const char *cmd;      // "train"
  const char *usage;    // "--out FILE [options]"
  const char *about;    // one paragraph
  const Opt *opts;
  int nopts;
  int npos_min, npos_max;  // positional arguments allowed
  const char **pos;        // receives them
} ArgSpec;

// Returns 0 to go on, 1 when --help was shown (exit 0), 2 on bad usage (message printed).
int args_parse(const ArgSpec *spec, int argc, char **argv);
void args_usage(const ArgSpec *spec, FILE *f);
