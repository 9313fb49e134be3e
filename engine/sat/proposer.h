// proposer.h — where the proxy search's proposals come from.
//
// builtin: an offline (1+1) evolution strategy. Round 1 is uniform (every group at
// sqrt(target), which the Pruner then scales to the exact target). Every later round takes
// the best candidate so far and moves MACs budget between groups: 1-2 times, a random
// donor group gives up 10-30 % of its keep ratio and a random receiver gains the same
// MACs (first order: by the ratio of their MAC shares). The Pruner rescales the result to
// the target, so the move changes the shape, not the cost; the bank keeps the better of
// the two, so the best so far is what the next round perturbs. Seeded and deterministic.
//
// cmd:PROGRAM: `/bin/sh -c PROGRAM` gets the memory bank on stdin as
//   {"target": 0.6, "t_range": [0, 250], "round": 3,
//    "groups": [{"name": "conv_in.out", "width": 24, "macs_share": 0.21}, ...],
//    "history": [{"round": 1, "keep": {"conv_in.out": 0.77, ...},
//                 "realized": {"conv_in.out": 0.75, ...}, "score": 0.083, "macs_ratio": 0.597},
//                {"round": 2, "skipped": "malformed JSON: ...", "score": null, "macs_ratio": null}]}
// and must print the next proposal, {"keep": {"name": ratio, ...}}, on stdout within the
// timeout. Groups it leaves out keep 1.0; other members of the reply are ignored. A reply
// that is late, not JSON, names an unknown group or a ratio outside (0, 1] is an error:
// the round is skipped and the bank records why (`stepscope prune` also says so on stderr:
// "stepscope: proposer round 3: <why>; round skipped"). macs_share is the fraction of the base
// model's MACs that scales with the group's width (a layer joins two groups, so the shares
// add up to more than 1); realized is what unit granularity and the MACs target made of
// the proposal; score is the proxy loss (lower is better).
#pragma once
#include "../rng.h"
#include "bank.h"

// Fills keep (ngroups ratios) for the next round.
void propose_uniform(const Bank *b, double *keep);
void propose_builtin(const Bank *b, Rng *r, double *keep);
int propose_cmd(const char *program, const Bank *b, int round, int timeout_s, double *keep, Err *e);
// Parses a reply of the protocol into keep; -1 + e (the why) when it is not valid.
int proposal_parse(const Bank *b, const char *text, size_t len, double *keep, Err *e);
