// app.h — the explorer (`stepscope tui`): the state its loop, views and jobs share.
//
// Threads: the UI thread owns curses, the Explorer (the plan being edited) and everything
// in App; jobs (app_jobs.h) run heavy work on their own threads with their own backend and
// model copies, and hand results over under their job's mutex. The loop sleeps in poll() on
// the terminal and on a self-pipe the jobs write to, so a key or a job's progress wakes it
// at once; it redraws when something changed, at most once a frame.
//
// Images (sixel or half blocks) bypass curses: views place them with app_image() while
// drawing; after doupdate() the loop writes every image that is new, moved or was wiped,
// in one write. A clear (resize, view switch, dialog) wipes them and they are drawn again.
#pragma once
#include "engine/checkpoint.h"
#include "engine/sat/explorer.h"
#include "tui/explorer/app_jobs.h"
#include "tui/termgfx/term_image.h"
#include "tui/explorer/widgets.h"
#include <limits.h>

enum { VIEW_SCHEDULE, VIEW_IMPORTANCE, VIEW_GENERATE, VIEW_PRUNE, VIEW_LOSS, NVIEWS };
enum { MIN_COLS = 80, MIN_ROWS = 24 };
enum { APP_MAX_IMAGES = 8, APP_MAX_SPOTS = 48 };

typedef struct App App;

// One view: a tab of the explorer, one file each in tui/explorer/views/.
typedef struct {
  const char *name;                          // tab title
  void (*enter)(App *);                      // became the current view (may be NULL)
  void (*draw)(App *, Rect);                 // draws inside the rect
  int (*key)(App *, int ch);                 // 1: handled
  int (*mouse)(App *, const MEVENT *);       // 1: handled (may be NULL)
  const KeyHint *keys;                       // the key bar, ended by {NULL}
  int (*hints)(App *, KeyHint *, int cap);   // or a key bar that changes: fills h (may be NULL)
  const char *const *help;                   // help lines, NULL-terminated ("key\tmeaning")
  void (*tick)(App *);                       // every loop turn, current view or not (may be NULL)
  void (*destroy)(App *, void *state);       // quit: stop its jobs, free what state holds (may be
                                             // NULL); only when it has state, which the app then frees
  // Drawn in place of the view while no base model is loaded (NULL: the view needs none):
  // the box title, the warning, then what the view would show, NULL-terminated.
  const char *const *no_model;
} View;

extern const View view_schedule, view_importance, view_generate, view_prune, view_loss;

// What a model file holds, measured once on the UI thread (small files: milliseconds).
typedef struct {
  char path[PATH_MAX];   // as resolved ("" when none)
  int ok;                // loaded
  char err[512];         // why not
  UNetConfig cfg;
  CkptInfo info;
  double macs;           // per image
  long params;
} ModelMeta;

typedef enum { DLG_NONE, DLG_INPUT, DLG_CONFIRM } DialogKind;
typedef struct {
  DialogKind kind;
  char title[64], prompt[160];
  char buf[PATH_MAX];
  int cur;                                   // cursor (byte offset) in buf
  void (*done)(App *, const char *answer);   // input: the text; confirm: "y" or "n"
} Dialog;

typedef struct {
  int used;              // placed this frame, at `at`
  int drawn, stale;      // on the terminal at `shown`; its pixels changed since
  Rect at, shown;
  uint64_t key;          // content identity
  int pw, ph, max_w, max_h;  // source size and the box it was fitted to
  TermImage im;
} ImageSlot;

struct App {
  // options
  char model_arg[PATH_MAX], plan_arg[PATH_MAX], data_arg[256];
  char device[16];       // resolved at start: "cpu" or "cuda"
  int threads;
  GfxMode gfx_want;
  TermCaps caps;

  // the plan and its models
  Explorer ex;
  char plan_path[PATH_MAX];  // file the plan came from / was saved to; "" for the built-in
  unsigned plan_gen;         // bumped by every edit, load and save-as: views compare it
  ModelMeta base;
  ModelMeta group[PLAN_MAX_GROUPS];  // by plan index; path "" when the plan names none
  double *loss_per_t;        // base model's measured loss per t (Loss view), or NULL

  // UI state
  int first_view;            // -1: Generate when the base model loads, so a newcomer sees samples first
  int view, quit, dirty, clear;  // clear: wipe and repaint the whole screen next frame
  int help_open, help_scroll;
  Dialog dlg;
  char msg[256];
  UiRole msg_role;
  double msg_until;
  int wake[2];               // self-pipe: [0] polled by the loop, [1] written by jobs
  ImageSlot img[APP_MAX_IMAGES];
  HintSpot spots[APP_MAX_SPOTS];
  int nspots;
  int tab_x[NVIEWS + 1];     // tab bar: view v spans [tab_x[v], tab_x[v+1])
  Rect area;                 // the current view's rect
  void *state[NVIEWS];       // each view's own state
  Job *jobs[8];              // shown on the status line while they run
  int njobs;
};

// ---- used by the views ----
void app_msg(App *a, UiRole role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// After an explorer_* edit: on success bumps plan_gen, else shows ex.msg.
void app_edited(App *a, int rc);
// Places an image for this frame: w x h pixels (ch = 1 or 3) fitted into r at the largest
// whole scale and centred; key names the content (same key, same pixels: no re-encoding).
// Returns the cells it covers (h = 0 when images are off, too small, or hidden).
Rect app_image(App *a, int slot, Rect r, const uint8_t *px, int w, int h, int ch, uint64_t key);
// Moves an image placed this frame to (y, x) (its size stays); returns where it is now.
Rect app_image_move(App *a, int slot, int y, int x);
int app_images_on(const App *a);  // a graphics mode is on (not --graphics none)
void app_track_job(App *a, Job *j);  // show j's progress on the status line
void app_wipe(App *a);            // repaint the whole screen (and every image) next frame
void app_input(App *a, const char *title, const char *prompt, const char *initial,
               void (*done)(App *, const char *));
void app_confirm(App *a, const char *title, const char *prompt, void (*done)(App *, const char *));
int app_save_plan(App *a, const char *path);
int app_load_plan(App *a, const char *path);
// A group model path as the plan names it, resolved against the plan file's folder.
void app_resolve(const App *a, const char *name, char *out, size_t cap);
void app_measure_groups(App *a);  // re-reads the group models' costs after a plan change
// Name shown for a path: its last component.
const char *app_basename(const char *path);

// The Prune view's fine-tune of every group of the plan file (F), without a terminal: its
// worker's own code on the calling thread, with the models the plan names, distilled with
// weight W, budget steps in all (0: the plan's steps × groups) spread equally or by loss gap,
// batch images a step (0: the view's 64). For the tests. 0 when every group was fine-tuned, else -1 with error.
typedef struct {
  int ngroups;
  long steps[PLAN_MAX_GROUPS];           // the allocation, by plan index
  double gap[PLAN_MAX_GROUPS];           // its loss gaps (NAN: spread equally)
  char model[PLAN_MAX_GROUPS][512];      // the fine-tunes written
  char result[PLAN_MAX_GROUPS][256];     // each task's line in the view
  char error[512];
} PruneRunResult;
int prune_view_finetune(const char *plan_path, const char *data, const char *device, int threads, int batch,
                        double distill, int by_loss, long budget, PruneRunResult *r);

// ---- the loop (app.c) ----
// Runs the explorer until quit. The caller has filled the options; returns the exit status.
int app_run(App *a);

// ---- between the explorer's own files, not for the views ----
extern const View *const app_views[NVIEWS];       // app.c: by VIEW_*
void app_draw(App *a);                            // chrome.c: one whole frame, images last
void app_dialog_key(App *a, int ch);              // dialog.c: a key while a dialog is open
void app_draw_dialog(App *a);
void app_measure(ModelMeta *m, const char *path); // plans.c: loads the model once to measure it
void app_images_begin(App *a);                    // images.c: a frame starts, no slot placed yet
void app_images_present(App *a);                  // curses' frame out, then the images that changed
void app_images_forget(App *a);                   // drops every encoded image (resize, quit)
