// tty.h — the terminal while the explorer holds it: curses in, and out again on every
// way out, crashes included. Everything here is process-wide (signal handlers, stderr).
#pragma once

// Saves the terminal's state, sends stderr to a log while curses has the screen (the
// engine's warnings would tear the frame), installs the quit and crash handlers and the
// atexit restore, and starts curses (raw, no echo, keypad, mouse, cursor hidden).
void tty_setup(void);

// Ends curses and gives stderr back, with what was logged meanwhile. Safe to call again.
void tty_restore(void);

// The SIGINT, SIGTERM or SIGHUP that asked the explorer to quit; 0 while none has.
int tty_quit_signal(void);
