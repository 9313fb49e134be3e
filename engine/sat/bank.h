// bank.h — the proxy search's memory bank: every round's proposal, the widths it became, its
// proxy loss and MACs (search.h runs the search, proposer.h reads the bank to propose).
#pragma once
#include "../json.h"

typedef struct {
  int round;           // 1-based
  double *keep;        // the proposal (ngroups ratios); NULL when none was usable
  double *realized;    // kept units / units per group (NULL when skipped)
  double score;        // proxy loss (NAN when skipped)
  double macs_ratio;   // MACs / base MACs (NAN when skipped)
  char skipped[512];   // why the round was skipped, "" when it was not
} BankEntry;

typedef struct {
  int ngroups;
  char (*name)[64];
  int *width;
  double *share;       // the Pruner's MAC shares
  double target;
  int t0, t1;
  int n;
  BankEntry *e;
  int best;            // index into e of the lowest proxy, -1 while none
} Bank;

// Appends round `round`, skipped until filled in (score and MACs ratio NAN); returns it.
BankEntry *bank_add(Bank *b, int round);

// The bank as the proposer protocol's JSON (proposer.h); next_round: the "round" field.
void bank_json(const Bank *b, int next_round, JsonBuf *out);
int bank_save(const Bank *b, const char *path, Err *e);  // atomic
void bank_free(Bank *b);

