// term_detect.c — what the terminal can draw: ask it (DA1, cell size), read the
// environment (COLORTERM, NO_COLOR, TERM), and honour the user's --graphics choice.
#include "tui/termgfx/term_detect.h"
#include "engine/common.h"
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

enum { REPLY_TIMEOUT_MS = 250, DEFAULT_CELL_W = 10, DEFAULT_CELL_H = 20 };

TermColor term_color_from_env(void) {
  const char *nc = getenv("NO_COLOR"), *ct = getenv("COLORTERM");
  if (nc && *nc) return TERM_COLOR_NONE;
  if (ct && (!strcmp(ct, "truecolor") || !strcmp(ct, "24bit"))) return TERM_COLOR_TRUE;
  return TERM_COLOR_256;
}

// Reads the numeric parameters of a CSI sequence starting at p (just after "ESC ["),
// up to its final byte. Returns the index of the final byte, or -1 if the sequence is cut.
static long csi_params(const char *buf, size_t n, size_t p, int *par, int maxpar, int *npar) {
  int k = 0, v = 0, any = 0;
  for (size_t i = p; i < n; i++) {
    char c = buf[i];
    if (c >= '0' && c <= '9') { v = v * 10 + (c - '0'); any = 1; if (v > 1000000) v = 1000000; }
    else if (c == ';') { if (k < maxpar) par[k++] = v; v = 0; any = 0; }
    else if (c >= 0x40 && c <= 0x7e) { if (any && k < maxpar) par[k++] = v; *npar = k; return (long)i; }
    // '?' and other intermediates: skipped
  }
  return -1;
}

// DA1:       ESC [ ? 6 2 ; 4 ; 2 2 c  (parameter 4: sixel graphics)
// cell size: ESC [ 6 ; height ; width t
void term_parse_reply(const char *buf, size_t n, TermReply *r) {
  *r = (TermReply){0};
  for (size_t i = 0; i + 1 < n; i++) {
    if (buf[i] != 0x1b || buf[i + 1] != '[') continue;
    int par[32], np = 0;
    long end = csi_params(buf, n, i + 2, par, 32, &np);
    if (end < 0) break;
    if (buf[end] == 'c' && i + 2 < n && buf[i + 2] == '?') {
      r->da1 = 1;
      for (int k = 1; k < np; k++) r->sixel |= par[k] == 4;  // par[0] is the device class
    } else if (buf[end] == 't' && np == 3 && par[0] == 6 && par[1] > 0 && par[2] > 0) {
      r->cell_h = par[1], r->cell_w = par[2];
    }
    i = (size_t)end;
  }
}

// Sends the queries to the controlling terminal and collects the replies until DA1 has
// arrived or the timeout has passed. The terminal is in raw mode meanwhile, so the reply is
// neither echoed nor held back for a newline.
static void query_terminal(int ask_cell_size, TermReply *r) {
  *r = (TermReply){0};
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  struct termios saved, raw;
  if (tcgetattr(fd, &saved) != 0) { close(fd); return; }
  raw = saved;
  raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSANOW, &raw) != 0) { close(fd); return; }
  // DA1 last: every terminal answers it, so its reply ends the wait for the others.
  const char *q = ask_cell_size ? "\x1b[16t\x1b[c" : "\x1b[c";
  if (write(fd, q, strlen(q)) == (ssize_t)strlen(q)) {
    char buf[512];
    size_t len = 0;
    double deadline = now_sec() + REPLY_TIMEOUT_MS / 1000.0;
    while (!r->da1 && len < sizeof buf) {
      int left_ms = (int)((deadline - now_sec()) * 1000);
      if (left_ms <= 0) break;
      struct pollfd pfd = {fd, POLLIN, 0};
      if (poll(&pfd, 1, left_ms) <= 0) continue;  // timeout (loop exits) or EINTR
      ssize_t k = read(fd, buf + len, sizeof buf - len);
      if (k <= 0) break;
      len += (size_t)k;
      term_parse_reply(buf, len, r);
    }
  }
  tcsetattr(fd, TCSANOW, &saved);
  close(fd);
}

void term_detect(int fd, GfxMode want, TermCaps *c) {
  *c = (TermCaps){.gfx = GFX_NONE, .color = term_color_from_env(),
                  .cell_w = DEFAULT_CELL_W, .cell_h = DEFAULT_CELL_H};
  const int tty = isatty(fd);
  const char *term = getenv("TERM");
  struct winsize ws;
  int have_px = 0;
  if (tty && ioctl(fd, TIOCGWINSZ, &ws) == 0) {
    c->rows = ws.ws_row, c->cols = ws.ws_col;
    if (ws.ws_xpixel > 0 && ws.ws_ypixel > 0 && ws.ws_col > 0 && ws.ws_row > 0) {
      c->cell_w = ws.ws_xpixel / ws.ws_col, c->cell_h = ws.ws_ypixel / ws.ws_row;
      have_px = c->cell_w > 0 && c->cell_h > 0;
    }
  }
  if (want == GFX_NONE) { c->why = "--graphics none"; return; }
  if (want == GFX_BLOCKS) { c->gfx = GFX_BLOCKS; c->why = "--graphics blocks"; return; }
  if (!tty) {
    if (want == GFX_SIXEL) { c->gfx = GFX_SIXEL; c->why = "--graphics sixel (not a terminal)"; }
    else c->why = "not a terminal";
    return;
  }
  if (want == GFX_AUTO && term && !strcmp(term, "dumb")) { c->why = "TERM=dumb"; return; }

  TermReply r;
  query_terminal(!have_px, &r);
  c->da1_sixel = r.sixel;
  if (!have_px && r.cell_w > 0) c->cell_w = r.cell_w, c->cell_h = r.cell_h;
  if (want == GFX_SIXEL) { c->gfx = GFX_SIXEL; c->why = "--graphics sixel"; return; }
  if (r.sixel) { c->gfx = GFX_SIXEL; c->why = "terminal reports sixel (DA1 4)"; }
  else { c->gfx = GFX_BLOCKS; c->why = r.da1 ? "no sixel in DA1: half blocks" : "no DA1 reply: half blocks"; }
}
