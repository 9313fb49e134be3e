// prune.c — view 4: make the plan's group models. Its worker (prune_worker.c) runs a queue
// of tasks — the proxy search that prunes the base model for a group, and the fine-tune of
// a group model on its own timesteps — as `stepscope prune` and `stepscope finetune` do.
// Here, on the UI thread: queueing runs, the bank's rounds and the fine-tune loss drawn as
// they arrive, and each finished model put into the plan (the plan file saved) by tick().
// A fine-tune job may distil from the base model (W) and spreads a total step budget over
// the groups, equally or by each pruned model's loss gap, as `stepscope finetune --distill W
// --steps-by equal|loss --budget N` does.
#include "engine/json.h"
#include "tui/explorer/views/prune.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static Prune *st(App *a) {
  Prune *s = a->state[VIEW_PRUNE];
  if (s) return s;
  s = calloc(1, sizeof *s);
  job_init(&s->job, "prune/fine-tune", a->wake[1]);
  app_track_job(a, &s->job);
  a->state[VIEW_PRUNE] = s;
  return s;
}

// ---- control (UI thread) ----

static void queue(App *a, int prune, int finetune, int all) {
  Prune *s = st(a);
  if (!a->base.ok) return;
  if (job_running(&s->job)) { app_msg(a, UI_WARN, "a job is running: c cancels it"); return; }
  if (!a->plan_path[0]) {
    app_msg(a, UI_WARN, "save the plan first (S): the group models are written next to the plan file");
    return;
  }
  job_reap(&s->job);
  const Plan *p = &a->ex.plan;
  const Explorer *ex = &a->ex;
  Plan run = *p;
  // group models named in the plan, resolved as the app found them
  for (int j = 0; j < p->ngroups; j++)
    if (a->group[j].ok) snprintf(run.g[j].model, sizeof run.g[j].model, "%s", a->group[j].path);
  prune_setup(s, &run, a->plan_path, a->base.path,
        a->data_arg[0] ? a->data_arg : a->base.info.data[0] ? a->base.info.data : "fashion-mnist", a->device, a->threads,
        ex->ft_distill, ex->ft_by_loss, explorer_finetune_budget(ex));
  int lo = all ? 0 : a->ex.sel_group, hi = all ? p->ngroups : a->ex.sel_group + 1;
  prune_add_tasks(s, prune, finetune, lo, hi);
  s->save_when_done = 1;
  job_start(&s->job, prune_work, s);
}

// Puts finished models into the plan, in task order; saves the plan when the run is over.
static void tick(App *a) {
  Prune *s = a->state[VIEW_PRUNE];
  if (!s) return;
  int changed = 0;
  job_lock(&s->job);
  while (s->applied < s->ntasks && s->task[s->applied].state != T_PENDING && s->task[s->applied].state != T_RUNNING) {
    Task t = s->task[s->applied++];
    job_unlock(&s->job);
    if (t.model[0]) {
      const PlanGroup *g = t.group < a->ex.plan.ngroups ? &a->ex.plan.g[t.group] : NULL;
      if (!g || g->t0 != t.t0 || g->t1 != t.t1)
        app_msg(a, UI_WARN, "group [%d, %d) changed while its model was made: %s is saved but not put in the plan", t.t0, t.t1, t.model);
      else if (explorer_set_model(&a->ex, t.group, t.model) == 0)
        a->plan_gen++, changed = 1;
    }
    job_lock(&s->job);
  }
  JobState js = s->job.state;
  job_unlock(&s->job);
  if (changed) app_measure_groups(a);
  if (js != JOB_RUNNING && s->save_when_done && s->applied == s->ntasks) {
    s->save_when_done = 0;
    job_reap(&s->job);
    int made = 0;
    for (int k = 0; k < s->ntasks; k++) made += s->task[k].model[0] != 0;
    if (made && a->plan_path[0] && a->ex.modified) app_save_plan(a, a->plan_path);
    if (js == JOB_FAILED) {
      job_lock(&s->job);
      app_msg(a, UI_ERR, "%s", s->job.error);
      job_unlock(&s->job);
    }
  }
  if (a->view == VIEW_PRUNE && js == JOB_RUNNING) a->dirty = 1;
}

// ---- the bank of an earlier search, from its file ----

// "x.g2.ft.safetensors" or "x.g2.safetensors" -> "x.g2.safetensors.bank.json"
static void bank_path_of(const char *model, char *out, size_t cap) {
  const char *ft = ".ft.safetensors";
  size_t n = strlen(model), nf = strlen(ft);
  if (n > nf && !strcmp(model + n - nf, ft)) snprintf(out, cap, "%.*s.safetensors.bank.json", (int)(n - nf), model);
  else snprintf(out, cap, "%s.bank.json", model);
}

// Reads the bank beside the model (a few kilobytes: on the UI thread, once per file).
static void load_saved(SavedBank *b, const char *model) {
  char path[PATH_MAX];
  path[0] = 0;
  if (model[0]) bank_path_of(model, path, sizeof path);
  if (!strcmp(path, b->path)) return;
  memset(b, 0, sizeof *b);
  snprintf(b->path, sizeof b->path, "%s", path);
  b->best = -1;
  FILE *f = path[0] ? fopen(path, "rb") : NULL;
  if (!f) return;
  char *text = NULL;
  size_t len = 0, cap = 0, k;
  char buf[4096];
  while ((k = fread(buf, 1, sizeof buf, f)) > 0 && len < (1u << 24)) {
    if (len + k > cap) cap = (len + k) * 2, text = xrealloc(text, cap);
    memcpy(text + len, buf, k), len += k;
  }
  fclose(f);
  Json root;
  Err e;
  if (text && json_parse(text, len, &root, &e) == 0) {
    const Json *h = json_get(&root, "history");
    for (int i = 0; i < json_arr_len(h) && b->n < MAX_ROUNDS; i++) {
      const Json *x = json_at(h, i);
      Round *r = &b->r[b->n++];
      r->round = (int)json_num(json_get(x, "round"), i + 1);
      r->score = json_num(json_get(x, "score"), NAN);
      r->macs = json_num(json_get(x, "macs_ratio"), NAN);
      const char *sk = json_str(json_get(x, "skipped"));
      snprintf(r->skipped, sizeof r->skipped, "%.150s", sk ? sk : "");
    }
    b->best = (int)json_num(json_get(&root, "best_round"), -1);
    json_free(&root);
  }
  free(text);
}

// ---- drawing ----

static const char *const STATE_GLYPH[] = {"·", "▶", "✓", "✗", "■"};

// The fine-tune job's settings, one line: the budget (b, n), how it is spread (l), the
// distillation weight (d D). Values bright, keys dim.
static void draw_ft_settings(App *a, int y, int x, int w) {
  const Explorer *ex = &a->ex;
  const int x1 = x + w;
  char v[64];
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), "fine-tune: ");
  if (ex->ft_distill > 0) x += ui_text(y, x, x1 - x, ui_attr(UI_ACCENT), "distill W=%.1f", ex->ft_distill);
  else x += ui_text(y, x, x1 - x, ui_attr(UI_TEXT), "distill W=0 (off)");
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), " d D · ");
  x += ui_text(y, x, x1 - x, ui_attr(ex->ft_by_loss ? UI_ACCENT : UI_TEXT), "steps by %s", ex->ft_by_loss ? "loss" : "equal");
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), " l · ");
  snprintf(v, sizeof v, "%ld steps", explorer_finetune_budget(ex));
  x += ui_text(y, x, x1 - x, ui_attr(UI_TEXT), "budget %s", v);
  if (ex->ft_budget > 0) ui_text(y, x, x1 - x, ui_attr(UI_DIM), " b");
  else ui_text(y, x, x1 - x, ui_attr(UI_DIM), " = %d × %d groups  b n", ex->plan.finetune_steps, ex->plan.ngroups);
}

static void draw_groups(App *a, Prune *s, Rect box) {
  const Explorer *ex = &a->ex;
  Rect in = ui_box(box, "group models", 1);
  Col cols[] = {{"i", 3, 1}, {"t range", 9, 0}, {"ratio", 5, 1}, {"model", 30, 0}, {"MACs", 6, 1}, {"params", 7, 1}};
  cols[3].w = in.w - 2 - ui_row_width(cols, 6) + cols[3].w;
  if (cols[3].w < 10) cols[3].w = 10;
  ui_row(in.y, in.x + 1, cols, 6, NULL, ui_attr(UI_DIM) | A_UNDERLINE);
  for (int j = 0; j < ex->plan.ngroups && j < in.h - 2; j++) {
    const GroupRow *g = &ex->row[j];
    const ModelMeta *m = &a->group[j];
    char c[6][96];
    snprintf(c[0], 96, "%d", g->index);
    snprintf(c[1], 96, "%d–%d", g->t0, g->t1 - 1);
    snprintf(c[2], 96, "%.2f", g->ratio);
    snprintf(c[3], 96, "%s", ex->plan.g[j].model[0] ? app_basename(ex->plan.g[j].model) : "— (the base model runs)");
    if (m->ok && a->base.macs > 0) snprintf(c[4], 96, "%.2f×", m->macs / a->base.macs);
    else snprintf(c[4], 96, "%s", ex->plan.g[j].model[0] ? "missing" : "");
    if (m->ok) ui_si(c[5], 96, (double)m->params);
    else c[5][0] = 0;
    const char *cells[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
    int sel = j == ex->sel_group, y = in.y + 1 + j;
    if (sel) ui_hline(y, in.x, in.w, ui_attr(UI_SEL), " ");
    ui_text(y, in.x, 1, ui_group_attr(j), "▌");
    ui_row(y, in.x + 1, cols, 6, cells, sel ? ui_attr(UI_SEL) : ui_attr(UI_TEXT));
  }
  const Plan *p = &ex->plan;
  if (in.h - 1 > p->ngroups + 1)
    ui_text(in.y + in.h - 1, in.x + 1, in.w - 2, ui_attr(UI_DIM), "search: %s · %d rounds (R) · %s proposer · %d calib images",
            p->criterion, p->rounds, p->proposer, p->calib_n);
}

static void draw_bank(App *a, Prune *s, Rect box) {
  // this run's rounds while it searches the selected group (or searched it last),
  // else the selected group's bank from its file
  job_lock(&s->job);
  int n = s->nrounds, best = s->best, grp = s->round_group;
  static Round r[MAX_ROUNDS];
  memcpy(r, s->round, sizeof(Round) * (size_t)n);
  job_unlock(&s->job);
  const int sel = a->ex.sel_group;
  const char *from = "";
  if (!n || grp != sel) {
    load_saved(&s->saved, a->group[sel].ok ? a->group[sel].path : "");
    n = s->saved.n, best = s->saved.best, grp = sel, from = " · saved";
    memcpy(r, s->saved.r, sizeof(Round) * (size_t)n);
  }
  char title[96];
  if (n) snprintf(title, sizeof title, "memory bank · group i=%d%s", a->ex.plan.ngroups - grp, from);
  else snprintf(title, sizeof title, "memory bank");
  Rect in = ui_box(box, title, 0);
  if (!n) {
    static const char *const intro[] = {
      "The proxy search's rounds, as they arrive.", "Each round: a proposal of per-layer widths,",
      "pruned to the group's MACs and scored by", "the loss on the group's own timesteps", "(lower is better). Round 1 is uniform.",
    };
    for (int k = 0; k < 5 && k < in.h; k++) ui_text(in.y + k, in.x + 1, in.w - 2, ui_attr(UI_DIM), "%s", intro[k]);
    return;
  }
  ui_text(in.y, in.x + 1, in.w - 2, ui_attr(UI_DIM) | A_UNDERLINE, "%5s  %-9s %7s  %s", "round", "proxy", "MACs", "");
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < n; k++)
    if (isfinite(r[k].score)) lo = fmin(lo, r[k].score), hi = fmax(hi, r[k].score);
  int first = n > in.h - 1 ? n - (in.h - 1) : 0;
  for (int k = first; k < n; k++) {
    int y = in.y + 1 + k - first;
    if (r[k].skipped[0]) { ui_text(y, in.x + 1, in.w - 2, ui_attr(UI_WARN), "%5d  skipped: %s", r[k].round, r[k].skipped); continue; }
    int is_best = r[k].round == best;
    int x = in.x + 1;
    x += ui_text(y, x, in.w - 2, is_best ? ui_attr(UI_ACCENT) : ui_attr(UI_TEXT), "%5d  %-9.5f %6.3f×  ", r[k].round, r[k].score, r[k].macs);
    // lower proxy: longer bar
    double f = hi > lo ? 1 - 0.8 * (r[k].score - lo) / (hi - lo) : 1;
    int bw = in.x + in.w - x - 8;
    if (bw > 4) ui_bar(y, x, bw, f, is_best ? ui_attr(UI_ACCENT) : ui_attr(UI_DIM));
    if (is_best) ui_text(y, in.x + in.w - 7, 6, ui_attr(UI_ACCENT), " best");
    else if (r[k].round == 1) ui_text(y, in.x + in.w - 8, 7, ui_attr(UI_DIM), "uniform");
  }
}

static void draw_job(App *a, Prune *s, Rect box) {
  Rect in = ui_box(box, "jobs", 1);
  job_lock(&s->job);
  JobState js = s->job.state;
  double prog = s->job.progress;
  char status[200];
  snprintf(status, sizeof status, "%s", s->job.status);
  int nt = s->ntasks, cur = s->cur;
  Task task[MAX_TASKS];
  memcpy(task, s->task, sizeof(Task) * (size_t)nt);
  int nl = s->nloss;
  float *loss = nl ? xmalloc(sizeof(float) * (size_t)nl) : NULL;
  if (nl) memcpy(loss, s->loss, sizeof(float) * (size_t)nl);
  int ft_step = s->ft_step, ft_steps = s->ft_steps, alloc = s->alloc_state;
  long alloc_steps[PLAN_MAX_GROUPS];
  double alloc_gap[PLAN_MAX_GROUPS];
  memcpy(alloc_steps, s->alloc_steps, sizeof alloc_steps);
  memcpy(alloc_gap, s->alloc_gap, sizeof alloc_gap);
  job_unlock(&s->job);
  draw_ft_settings(a, in.y, in.x + 1, in.w - 2);
  in.y++, in.h--;
  if (js == JOB_RUNNING) ui_progress(in.y, in.x + 1, in.w - 2, prog, status);
  else if (!nt) {
    static const char *const intro[] = {
      "Nothing running. Make the plan's group models here:",
      "",
      "  p   prune the selected group: importance by the plan's criterion, then the proxy search",
      "  P   prune every group, noisiest first",
      "  f   fine-tune the selected group's model on its own timesteps (continues a saved run)",
      "  F   fine-tune every group's model",
      "  A   both, for every group",
      "  d D distillation weight W ±0.1: also learn from the base model   l  steps by equal | loss gap   b  budget",
      "",
      "Models are written next to the plan file; the plan then names them and is saved.",
      "From a shell:  stepscope prune --plan PLAN  and  stepscope finetune --plan PLAN",
    };
    for (int k = 0; k < 11 && k < in.h; k++) ui_text(in.y + k, in.x + 1, in.w - 2, ui_attr(k ? UI_TEXT : UI_DIM), "%s", intro[k]);
  } else {
    ui_text(in.y, in.x + 1, in.w - 2, js == JOB_FAILED ? ui_attr(UI_ERR) : ui_attr(UI_DIM), "%s",
            js == JOB_FAILED ? "failed — see the task list" : "finished · the plan names the new models");
  }
  // the task list on the left, the fine-tune loss on the right
  int lw = nl > 1 && in.w > 100 ? in.w * 2 / 3 : in.w - 2;
  int rows = in.h - 1, first = cur - rows + 2 > 0 ? cur - rows + 2 : 0;
  for (int k = first; k < nt && k - first < rows; k++) {
    const Task *t = &task[k];
    int y = in.y + 1 + k - first;
    attr_t at = t->state == T_FAILED ? ui_attr(UI_ERR) : t->state == T_RUNNING ? ui_attr(UI_ACCENT) : t->state == T_DONE ? ui_attr(UI_OK) : ui_attr(UI_DIM);
    int x = in.x + 1;
    x += ui_text(y, x, lw, at, "%s %-9s i=%-2d ", STATE_GLYPH[t->state], t->kind == TASK_PRUNE ? "prune" : "fine-tune",
                 a->ex.plan.ngroups > t->group ? a->ex.plan.ngroups - t->group : 0);
    if (t->kind == TASK_FINETUNE && alloc == 1) {  // its share of the budget
      if (isfinite(alloc_gap[t->group]))
        x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "g%d: %ld steps (gap %+.4f) ", t->group,
                     alloc_steps[t->group], alloc_gap[t->group]);
      else
        x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "g%d: %ld steps ", t->group, alloc_steps[t->group]);
      if (t->result[0]) x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_DIM), "· ");
    }
    if (t->result[0]) x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "%s ", t->result);
    if (t->model[0]) ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_DIM), "→ %s", app_basename(t->model));
  }
  if (nl > 1 && in.w > 100) {
    Rect pr = {in.y + 1, in.x + lw + 2, in.h - 1, in.w - lw - 3};
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < nl; k++) lo = fmin(lo, loss[k]), hi = fmax(hi, loss[k]);
    Plot pl;
    plot_begin(&pl, pr, 0, ft_steps > nl ? ft_steps : nl, lo, hi > lo ? hi : lo + 1e-3, "%.3f", 0, pr.h >= 6 ? 3 : 2, 0, "");
    if (pl.area.w) {
      double *xs = xmalloc(sizeof(double) * (size_t)nl), *ys = xmalloc(sizeof(double) * (size_t)nl);
      for (int k = 0; k < nl; k++) xs[k] = ft_step - nl + 1 + k, ys[k] = loss[k];
      plot_curve(&pl, xs, ys, nl, ui_attr(UI_ACCENT));
      plot_end(&pl);
      free(xs), free(ys);
      ui_text(pl.area.y + pl.area.h, pl.area.x + 1, pl.area.w - 1, ui_attr(UI_DIM), " fine-tune loss · step %d/%d ", ft_step, ft_steps);
    }
  }
  free(loss);
}

static void draw(App *a, Rect r) {
  Prune *s = st(a);
  int top = a->ex.plan.ngroups + 4;
  if (top < 9) top = 9;
  if (top > r.h / 2) top = r.h / 2;
  int gw = r.w * 3 / 5;
  draw_groups(a, s, (Rect){r.y, r.x, top, gw});
  draw_bank(a, s, (Rect){r.y, r.x + gw, top, r.w - gw});
  draw_job(a, s, (Rect){r.y + top, r.x, r.h - top, r.w});
}

// ---- input ----

static void steps_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end) { app_msg(a, UI_WARN, "not a number: '%s'", text); return; }
  app_edited(a, explorer_set_search(&a->ex, -1, (int)v, -1));
}

static void rounds_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end) { app_msg(a, UI_WARN, "not a number: '%s'", text); return; }
  app_edited(a, explorer_set_search(&a->ex, (int)v, -1, -1));
}

static void budget_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end || v < 0) { app_msg(a, UI_WARN, "not a number of steps: '%s'", text); return; }
  if (explorer_set_finetune(&a->ex, -1, -1, v)) app_msg(a, UI_WARN, "%s", a->ex.msg);
}

// W up or down by 0.1, wrapping around 0..1; kept on the tenths.
static void step_distill(App *a, int dir) {
  int tenths = (int)lround(a->ex.ft_distill * 10) + dir;
  tenths = (tenths + 11) % 11;
  explorer_set_finetune(&a->ex, tenths / 10.0, -1, -1);
  app_msg(a, UI_TEXT, tenths ? "fine-tune: distilled from the base model, loss W·|ε_base − ε_g|² + (1 − W)·|ε − ε_g|², W = %.1f"
                             : "fine-tune: no distillation (W = %.1f), the plain objective", tenths / 10.0);
}

static int key(App *a, int ch) {
  if (!a->base.ok) return 0;
  Prune *s = st(a);
  Explorer *ex = &a->ex;
  char cur[32];
  switch (ch) {
    case KEY_UP: case 'k': explorer_select_group(ex, ex->sel_group - 1); explorer_select_bound(ex, ex->sel_group); return 1;
    case KEY_DOWN: case 'j': explorer_select_group(ex, ex->sel_group + 1); explorer_select_bound(ex, ex->sel_group); return 1;
    case 'p': queue(a, 1, 0, 0); return 1;
    case 'P': queue(a, 1, 0, 1); return 1;
    case 'f': queue(a, 0, 1, 0); return 1;
    case 'F': queue(a, 0, 1, 1); return 1;
    case 'A': queue(a, 1, 1, 1); return 1;
    case 'c': case 27:
      if (job_running(&s->job)) {
        job_cancel(&s->job);
        app_msg(a, UI_WARN, "cancelling: a fine-tune stops at once and is saved; a search stops after its rounds");
      }
      return 1;
    case 'n':
      snprintf(cur, sizeof cur, "%d", ex->plan.finetune_steps);
      app_input(a, "fine-tune steps", "Optimizer steps per group model (0 skips fine-tuning):", cur, steps_answer);
      return 1;
    case 'd': step_distill(a, +1); return 1;
    case 'D': step_distill(a, -1); return 1;
    case 'l':
      explorer_set_finetune(ex, -1, !ex->ft_by_loss, -1);
      app_msg(a, UI_TEXT, ex->ft_by_loss ? "fine-tune steps by loss: the budget goes to the groups by each pruned model's loss gap (at least 5 %% each)"
                                         : "fine-tune steps equal: each group the same share of the budget");
      return 1;
    case 'b':
      snprintf(cur, sizeof cur, "%ld", ex->ft_budget);
      app_input(a, "fine-tune budget", "Total fine-tune steps over all groups (0: steps per group × groups):", cur, budget_answer);
      return 1;
    case 'R':
      snprintf(cur, sizeof cur, "%d", ex->plan.rounds);
      app_input(a, "search rounds", "Proxy-search rounds per group (round 1 is the uniform proposal):", cur, rounds_answer);
      return 1;
  }
  return 0;
}

// The keys in the order they are cut from the right on a narrow terminal; cancel first while a
// job runs.
static int hints(App *a, KeyHint *h, int cap) {
  static const KeyHint k[] = {
    {"c", "cancel", 'c'}, {"p", "prune", 'p'}, {"P", "all", 'P'}, {"f", "tune", 'f'}, {"F", "all", 'F'},
    {"A", "both", 'A'}, {"d", "distill", 'd'}, {"l", "steps-by", 'l'}, {"b", "budget", 'b'}, {"n", "steps", 'n'},
    {"R", "rounds", 'R'}, {"↑↓", "group", 0},
  };
  Prune *s = a->state[VIEW_PRUNE];
  int first = s && job_running(&s->job) ? 0 : 1, n = 0;
  for (int i = first; i < (int)(sizeof k / sizeof k[0]) && n < cap; i++) h[n++] = k[i];
  return n;
}

static void destroy(App *a, void *state) {
  Prune *s = state;
  job_destroy(&s->job);  // a fine-tune saves its checkpoint as it stops
  free(s->loss);
}

static const char *const help[] = {
  "↑↓  j k\tselect a group",
  "p  P\tproxy search: prune the selected group's model, or every group's",
  "f  F\tfine-tune the selected group's model on its timesteps, or every group's",
  "A\tprune and fine-tune every group (noisiest first)",
  "c  Esc\tcancel: a fine-tune stops now (saved, resumable with f); a search after its rounds",
  "n\tfine-tune steps per group;  R: search rounds (both saved in the plan)",
  "d  D\tdistillation weight W up, down by 0.1 (0..1): the fine-tune also learns from the base model",
  "\tas teacher, loss W·|ε_base − ε_g|² + (1 − W)·|ε − ε_g|² (like finetune --distill W)",
  "l\tfine-tune steps by equal | loss: the budget spread evenly, or by each pruned model's loss",
  "\tgap (its ε-MSE minus the base's on its timesteps), at least 5 % each; measured when the",
  "\tjob's first fine-tune starts, shown per group in the job list",
  "b\tfine-tune budget: total steps over all groups (0: steps per group × groups)",
  "\tModels are written next to the plan file as <plan>.g<j>.safetensors (and .ft. for",
  "\tfine-tunes, .bank.json for the memory bank); the plan is updated and saved.",
  "\tThe same as `stepscope prune --plan P` and `stepscope finetune --plan P`.",
  NULL,
};

const View view_prune = {
  .name = "Prune", .draw = draw, .key = key, .hints = hints, .help = help, .tick = tick, .destroy = destroy,
  .no_model = (const char *const[]){
    "Prune and fine-tune", "No base model to prune.",
    "This view prunes and fine-tunes the plan's group models; save a plan (S) first.",
    "The same from the command line:  stepscope prune --plan P; stepscope finetune --plan P",
    NULL},
};
