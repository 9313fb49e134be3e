// prune.c — view: Prune (placeholder while it is being written).
#include "../app.h"

static void draw(App *a, Rect r) {
  Rect in = ui_box(r, "Prune", 1);
  ui_text(in.y + 1, in.x + 2, in.w - 4, ui_attr(UI_DIM), "coming soon");
}
static int key(App *a, int ch) { return 0; }
static int hints(App *a, KeyHint *h, int cap) { return 0; }
const View view_prune = {.name = "Prune", .draw = draw, .key = key, .hints = hints};
