// dialog.c — the explorer's two dialogs: a one-line text field (a file name, say) with a
// cursor that moves by UTF-8 characters, and a yes/no question. Each ends by calling its
// `done` with the answer. See app.h.
#include "tui/explorer/app.h"
#include <string.h>

void app_input(App *a, const char *title, const char *prompt, const char *initial,
               void (*done)(App *, const char *)) {
  a->dlg = (Dialog){.kind = DLG_INPUT, .done = done};
  snprintf(a->dlg.title, sizeof a->dlg.title, "%s", title);
  snprintf(a->dlg.prompt, sizeof a->dlg.prompt, "%s", prompt);
  snprintf(a->dlg.buf, sizeof a->dlg.buf, "%s", initial ? initial : "");
  a->dlg.cur = (int)strlen(a->dlg.buf);
  app_wipe(a);  // images hide under a dialog
}

void app_confirm(App *a, const char *title, const char *prompt, void (*done)(App *, const char *)) {
  a->dlg = (Dialog){.kind = DLG_CONFIRM, .done = done};
  snprintf(a->dlg.title, sizeof a->dlg.title, "%s", title);
  snprintf(a->dlg.prompt, sizeof a->dlg.prompt, "%s", prompt);
  app_wipe(a);
}

static void dialog_close(App *a) {
  a->dlg.kind = DLG_NONE;
  app_wipe(a);
}

// Previous UTF-8 character start before byte offset i.
static int utf8_prev(const char *s, int i) {
  if (i <= 0) return 0;
  do i--; while (i > 0 && (s[i] & 0xc0) == 0x80);
  return i;
}
static int utf8_next(const char *s, int i) {
  if (!s[i]) return i;
  do i++; while (s[i] && (s[i] & 0xc0) == 0x80);
  return i;
}

void app_dialog_key(App *a, int ch) {
  Dialog *d = &a->dlg;
  void (*done)(App *, const char *) = d->done;
  if (d->kind == DLG_CONFIRM) {
    if (ch == 'y' || ch == 'Y' || ch == '\r' || ch == '\n' || ch == KEY_ENTER) { dialog_close(a); done(a, "y"); }
    else if (ch == 'n' || ch == 'N') { dialog_close(a); done(a, "n"); }
    else if (ch == 27 || ch == 'c' || ch == 'q' || ch == 3) dialog_close(a);
    return;
  }
  int len = (int)strlen(d->buf);
  switch (ch) {
    case 27: case 3: dialog_close(a); return;
    case '\r': case '\n': case KEY_ENTER: {
      char answer[PATH_MAX];
      snprintf(answer, sizeof answer, "%s", d->buf);
      dialog_close(a);
      done(a, answer);
      return;
    }
    case KEY_BACKSPACE: case 127: case 8:
      if (d->cur > 0) {
        int p = utf8_prev(d->buf, d->cur);
        memmove(d->buf + p, d->buf + d->cur, (size_t)(len - d->cur + 1));
        d->cur = p;
      }
      return;
    case KEY_DC:
      if (d->cur < len) {
        int n = utf8_next(d->buf, d->cur);
        memmove(d->buf + d->cur, d->buf + n, (size_t)(len - n + 1));
      }
      return;
    case KEY_LEFT: d->cur = utf8_prev(d->buf, d->cur); return;
    case KEY_RIGHT: d->cur = utf8_next(d->buf, d->cur); return;
    case KEY_HOME: case 1: d->cur = 0; return;
    case KEY_END: case 5: d->cur = len; return;
    case 21: d->buf[0] = 0, d->cur = 0; return;  // Ctrl-U
    default:
      if (ch >= 32 && ch < 256 && ch != 127 && len + 1 < (int)sizeof d->buf) {
        memmove(d->buf + d->cur + 1, d->buf + d->cur, (size_t)(len - d->cur + 1));
        d->buf[d->cur++] = (char)ch;  // UTF-8 arrives byte by byte
      }
  }
}

void app_draw_dialog(App *a) {
  Dialog *d = &a->dlg;
  int w = COLS - 8 < 72 ? COLS - 8 : 72, h = d->kind == DLG_INPUT ? 7 : 6;
  Rect r = {(LINES - h) / 2, (COLS - w) / 2, h, w};
  ui_fill(r, A_NORMAL);
  Rect in = ui_box(r, d->title, 1);
  ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_TEXT), "%s", d->prompt);
  if (d->kind == DLG_INPUT) {
    // the field scrolls so that the cursor stays visible
    int fw = in.w - 2, before = 0;
    char head[PATH_MAX];
    snprintf(head, sizeof head, "%.*s", d->cur, d->buf);
    before = ui_cols(head);
    const char *from = d->buf;
    while (before >= fw && *from) {
      int n = utf8_next(from, 0);
      char c1[8];
      snprintf(c1, sizeof c1, "%.*s", n, from);
      before -= ui_cols(c1);
      from += n;
    }
    ui_hline(in.y + 2, in.x + 1, fw, ui_attr(UI_SEL), " ");
    ui_text(in.y + 2, in.x + 1, fw, ui_attr(UI_SEL), "%s", from);
    ui_text(in.y + 2, in.x + 1 + before, 1, ui_attr(UI_SEL) | A_REVERSE, "%s", " ");
    ui_text(in.y + 4, in.x + 1, in.w - 2, ui_attr(UI_DIM), "Enter accept   Esc cancel   Ctrl-U clear");
  } else {
    ui_text(in.y + 3, in.x + 1, in.w - 2, ui_attr(UI_DIM), "y yes   n no   Esc cancel");
  }
}
