// csv.h — a small, strict CSV reader for tables of results (`stepscope plot`): a header
// row of column names, then rows with exactly as many fields. Fields are separated by
// commas and may be double-quoted ("a,b", "say ""hi"""); blank lines are skipped, a
// trailing CR is dropped. Errors name the file and the line: "r.csv: line 4: 5 fields,
// the header has 6".
#pragma once
#include "engine/common.h"

typedef struct {
  const char *path;
  int ncols, nrows;
  char **names;   // ncols column names
  char **cells;   // nrows x ncols fields, row-major
  int *line;      // nrows: each row's line number in the file (1-based), for messages
} Csv;

int csv_read(const char *path, Csv *t, Err *e);  // 0, or -1 with *e set (nothing to free)
void csv_free(Csv *t);

// The index of column name; -1 with "r.csv: no column 'fid' (columns: a, b, c)" in *e.
int csv_col(const Csv *t, const char *name, Err *e);
const char *csv_cell(const Csv *t, int row, int col);

// The number in a cell: 0 and *v set; 1 for an empty cell or nan/NaN (*v = NAN: a missing
// value, the point is skipped); -1 with "r.csv: line 3: column 'fid_sd' is not a number
// ('abc')" in *e.
int csv_number(const Csv *t, int row, int col, double *v, Err *e);
