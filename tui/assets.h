// assets.h — where the shipped files are: ./assets/NAME (a checkout), else beside the
// binary (build/../assets), else the installed copy (PREFIX/share/stepscope/assets).
#pragma once
#include <stddef.h>

// Fills out with the first readable candidate and returns 1; else returns 0 with out set to
// assets/NAME (so a message can name the place a checkout would have it).
int asset_path(const char *name, char *out, size_t cap);
