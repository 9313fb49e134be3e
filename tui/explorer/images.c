// images.c — the explorer's image slots: views place an image in a slot while they draw
// (app_image), it is encoded once per content and box, and written after curses' frame —
// only when it is new, moved, or was wiped. See app.h.
#include "tui/explorer/app.h"
#include <stdlib.h>
#include <unistd.h>

int app_images_on(const App *a) { return a->caps.gfx == GFX_SIXEL || a->caps.gfx == GFX_BLOCKS; }

Rect app_image(App *a, int slot, Rect r, const uint8_t *px, int w, int h, int ch, uint64_t key) {
  Rect none = {r.y, r.x, 0, 0};
  if (!app_images_on(a) || a->help_open || a->dlg.kind || slot < 0 || slot >= APP_MAX_IMAGES || r.w < 1 || r.h < 1)
    return none;
  ImageSlot *s = &a->img[slot];
  if (!s->im.bytes.data || s->key != key || s->pw != w || s->ph != h || s->max_w != r.w || s->max_h != r.h) {
    term_image_free(&s->im);
    Err e;
    if (term_image_render(&a->caps, px, w, h, ch, r.w, r.h, &s->im, &e)) {
      app_msg(a, UI_ERR, "%s", e.msg);
      return none;
    }
    s->key = key, s->pw = w, s->ph = h, s->max_w = r.w, s->max_h = r.h;
    s->stale = 1;  // new pixels: write them
  }
  if (s->im.cols > r.w || s->im.rows > r.h) return none;  // even shrunk it does not fit
  s->used = 1;
  s->at = (Rect){r.y, r.x + (r.w - s->im.cols) / 2, s->im.rows, s->im.cols};
  return s->at;
}

Rect app_image_move(App *a, int slot, int y, int x) {
  ImageSlot *s = &a->img[slot];
  if (!s->used) return (Rect){y, x, 0, 0};
  s->at.y = y, s->at.x = x;
  return s->at;
}

void app_images_begin(App *a) {
  for (int i = 0; i < APP_MAX_IMAGES; i++) a->img[i].used = 0;
}

static int rect_eq(Rect a, Rect b) { return a.y == b.y && a.x == b.x && a.h == b.h && a.w == b.w; }

// curses' frame goes out first, then, in one write, every image placed this frame that is
// new, moved or was wiped. One that is gone or moved leaves pixels behind that only a wipe
// removes (curses believes those cells blank, so it would never touch them).
void app_images_present(App *a) {
  int wipe = a->clear;
  for (int i = 0; i < APP_MAX_IMAGES; i++) {
    const ImageSlot *s = &a->img[i];
    if (s->drawn && (!s->used || !rect_eq(s->shown, s->at))) wipe = 1;
  }
  if (wipe) {
    clearok(curscr, TRUE);
    for (int i = 0; i < APP_MAX_IMAGES; i++) a->img[i].drawn = 0;
  }
  a->clear = 0;
  wnoutrefresh(stdscr);
  doupdate();
  fflush(stdout);
  Bytes out = {0};
  for (int i = 0; i < APP_MAX_IMAGES; i++) {
    ImageSlot *s = &a->img[i];
    if (!s->used || (s->drawn && !s->stale)) continue;
    term_image_frame(&s->im, s->at.y, s->at.x, &out);
    s->drawn = 1, s->stale = 0;
    s->shown = s->at;
  }
  bytes_write(STDOUT_FILENO, &out);
  bytes_free(&out);
}

void app_images_forget(App *a) {
  for (int i = 0; i < APP_MAX_IMAGES; i++) term_image_free(&a->img[i].im), a->img[i].drawn = 0;
}
