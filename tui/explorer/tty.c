// tty.c — the terminal while the explorer holds it: curses set up, and the terminal put
// back on every way out — a normal quit, exit() from anywhere, SIGINT/SIGTERM/SIGHUP (which
// end the loop), and crash signals (whose handler restores it with plain bytes, then dies
// of the same signal). See tty.h.
#include "tui/explorer/tty.h"
#include <curses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tty;
static int have_saved_tty;
static volatile sig_atomic_t curses_on, quit_signal;
static int saved_stderr = -1, stderr_log_fd = -1;
static FILE *stderr_log;

// What endwin() would undo, as plain bytes: usable inside a signal handler.
static void emergency_restore(void) {
  static const char reset[] = "\x1b[?2026l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
                              "\x1b[0m\x1b[?25h\x1b[?1049l\r\n";
  if (write(STDOUT_FILENO, reset, sizeof reset - 1) < 0) {}
  if (have_saved_tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
}

static void on_quit_signal(int sig) { quit_signal = sig; }

static void on_crash(int sig) {
  if (curses_on) emergency_restore();
  curses_on = 0;
  if (saved_stderr >= 0 && stderr_log_fd >= 0) {  // what went wrong, on the real stderr
    char buf[4096];
    ssize_t n;
    dup2(saved_stderr, STDERR_FILENO);
    lseek(stderr_log_fd, 0, SEEK_SET);
    while ((n = read(stderr_log_fd, buf, sizeof buf)) > 0)
      if (write(STDERR_FILENO, buf, (size_t)n) < 0) break;
    saved_stderr = -1;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// Sends what the engine printed to stderr while curses had the screen to the real stderr.
static void stderr_restore(void) {
  if (saved_stderr < 0) return;
  fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  saved_stderr = -1;
  if (stderr_log) {
    char buf[4096];
    size_t n;
    rewind(stderr_log);
    while ((n = fread(buf, 1, sizeof buf, stderr_log)) > 0)
      if (write(STDERR_FILENO, buf, n) < 0) break;
    fclose(stderr_log);
    stderr_log = NULL;
  }
}

void tty_restore(void) {
  if (curses_on) {
    curses_on = 0;
    printf("\x1b[?1002l\x1b[?1003l\x1b[?1006l");  // mouse modes, in case endwin misses one
    fflush(stdout);
    endwin();
  }
  stderr_restore();
}

void tty_setup(void) {
  if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) have_saved_tty = 1;
  // The engine may print warnings to stderr; on the screen they would tear the frame.
  stderr_log = tmpfile();
  if (stderr_log) {
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    stderr_log_fd = fileno(stderr_log);
    dup2(stderr_log_fd, STDERR_FILENO);
  }
  atexit(tty_restore);
  struct sigaction sa = {0};
  sa.sa_handler = on_quit_signal;  // no SA_RESTART: poll() returns EINTR and the loop quits
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_RESETHAND;
  int crash[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) sigaction(crash[i], &sa, NULL);

  set_escdelay(25);
  initscr();
  curses_on = 1;
  raw();  // Ctrl-C, Ctrl-S, Ctrl-Z arrive as keys
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  mouseinterval(0);
  mousemask(ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION, NULL);
}

int tty_quit_signal(void) { return quit_signal; }
