// prune.h — the Prune view's state, shared by its two halves: the worker that runs the
// queue of prune and fine-tune tasks on the job's thread (prune_worker.c), and the screen
// and keys on the UI thread (prune.c). Fields marked "under job.mu" are shared between them.
#pragma once
#include "tui/explorer/app.h"

enum { MAX_TASKS = 2 * PLAN_MAX_GROUPS, MAX_ROUNDS = 256, SAVE_EVERY = 500, FT_BATCH = 64 };
typedef enum { TASK_PRUNE, TASK_FINETUNE } TaskKind;
typedef enum { T_PENDING, T_RUNNING, T_DONE, T_FAILED, T_CANCELLED } TaskState;

typedef struct {
  TaskKind kind;
  int group;            // plan index
  int t0, t1;           // the group's range when the task was queued
  TaskState state;
  char model[512];      // the model it wrote ("" when none)
  char result[256];     // one line
  double t_start, secs;
} Task;

typedef struct { int round; double score, macs; char skipped[160]; } Round;

// A memory bank read back from its file (<pruned model>.bank.json).
typedef struct {
  char path[PATH_MAX];  // the file it came from ("" none)
  Round r[MAX_ROUNDS];
  int n, best;
} SavedBank;

typedef struct {
  Job job;
  SavedBank saved;      // the selected group's bank from its file, when not searching it now
  // the run's inputs (worker only)
  Plan plan;
  char plan_path[PATH_MAX], base[PATH_MAX], data[256], device[16];
  int threads, batch;   // batch: images per fine-tune step (FT_BATCH)
  double distill;       // fine-tune settings (explorer_set_finetune)
  int by_loss;
  long budget;          // over all the plan's groups
  // shared with the worker (under job.mu)
  Task task[MAX_TASKS];
  int ntasks, cur;
  Round round[MAX_ROUNDS];
  int nrounds, round_group, best;
  float *loss;          // fine-tune loss, smoothed, one per step
  int nloss, loss_cap, ft_step, ft_steps, ft_group;
  // the steps of each group's fine-tune, from the budget, once per run when its first
  // fine-tune starts: 0 not yet, 1 ready, -1 failed (alloc_err says why)
  int alloc_state;
  long alloc_steps[PLAN_MAX_GROUPS];
  double alloc_gap[PLAN_MAX_GROUPS];  // NAN: spread equally
  char alloc_err[640];
  // UI side
  int applied;          // tasks [0, applied) were put into the plan
  int save_when_done;
} Prune;

// A run's inputs: the plan (its models resolved), the files and the fine-tune settings;
// clears the previous run's tasks and results.
void prune_setup(Prune *s, const Plan *p, const char *plan_path, const char *base, const char *data,
                 const char *device, int threads, double distill, int by_loss, long budget);
// Queues prunes, then fine-tunes, of groups [lo, hi), each in sampling order (the noisiest first).
void prune_add_tasks(Prune *s, int prune, int finetune, int lo, int hi);
// The job: runs the queued tasks in order (job->arg is the Prune).
void prune_work(Job *job);
