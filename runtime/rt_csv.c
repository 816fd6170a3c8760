/* rt_csv.c -- loads comma-separated numbers: an optional header line
   (detected or forced), rows of equal width, blank lines ignored, and a
   Python-like column selection so features and labels can come from one
   file. Only the selected columns must hold numbers. */
#include "rt_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Line {
  const char *p;     /* start of the line */
  size_t len;        /* without the newline and a trailing '\r' */
  int64_t number;    /* 1-based line number in the file */
} Line;

/* The next non-blank line at or after *pos; false at the end. */
static bool next_line(const char *text, size_t n, size_t *pos, int64_t *lineno,
                      Line *out) {
  while (*pos < n) {
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', n - *pos);
    size_t len = nl ? (size_t)(nl - s) : n - *pos;
    *pos += len + (nl ? 1 : 0);
    ++*lineno;
    if (len && s[len - 1] == '\r') len--;
    size_t k = 0;
    while (k < len && (s[k] == ' ' || s[k] == '\t')) k++;
    if (k < len) {
      *out = (Line){s, len, *lineno};
      return true;
    }
  }
  return false;
}

static int64_t count_fields(const Line *l) {
  int64_t n = 1;
  for (size_t i = 0; i < l->len; i++) n += l->p[i] == ',';
  return n;
}

/* Field f (trimmed) of l into buf; false when it does not fit. */
static bool field_text(const Line *l, int64_t f, char *buf, size_t cap) {
  const char *s = l->p, *end = l->p + l->len;
  for (int64_t i = 0; i < f; i++) s = memchr(s, ',', (size_t)(end - s)) + 1;
  const char *e = memchr(s, ',', (size_t)(end - s));
  if (!e) e = end;
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  if ((size_t)(e - s) >= cap) return false;
  memcpy(buf, s, (size_t)(e - s));
  buf[e - s] = '\0';
  return true;
}

static bool parse_double(const char *s, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return *s && *end == '\0' && isfinite(*v);
}

static bool parse_int(const char *s, int64_t *v) {
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (*s && *end == '\0' && errno == 0) {
    *v = x;
    return true;
  }
  double d;
  if (!parse_double(s, &d) || d != floor(d) || d < -9.2e18 || d > 9.2e18) return false;
  *v = (int64_t)d;
  return true;
}

/* Whether fields [c0, c1) of l are all numbers. */
static bool fields_are_numbers(const Line *l, int64_t c0, int64_t c1) {
  char buf[128];
  double v;
  for (int64_t f = c0; f < c1; f++)
    if (!field_text(l, f, buf, sizeof buf) || !parse_double(buf, &v)) return false;
  return true;
}

/* One index of a cols spec, negative counting from the end. */
static bool col_index(const char *s, const char *e, int64_t ncols, int64_t *out) {
  char buf[24];
  if (e - s <= 0 || e - s >= (long)sizeof buf) return false;
  memcpy(buf, s, (size_t)(e - s));
  buf[e - s] = '\0';
  char *end;
  long long v = strtoll(buf, &end, 10);
  if (*end) return false;
  *out = v < 0 ? ncols + v : v;
  return true;
}

/* Resolves cols against ncols into [*c0, *c1); *single for "N". */
static bool select_cols(const char *cols, int64_t ncols, int64_t *c0, int64_t *c1,
                        bool *single) {
  *c0 = 0;
  *c1 = ncols;
  *single = false;
  if (!cols || !*cols) return true;
  const char *colon = strchr(cols, ':'), *end = cols + strlen(cols);
  if (!colon) {
    *single = true;
    if (!col_index(cols, end, ncols, c0)) return false;
    *c1 = *c0 + 1;
  } else {
    if (colon > cols && !col_index(cols, colon, ncols, c0)) return false;
    if (colon + 1 < end && !col_index(colon + 1, end, ncols, c1)) return false;
  }
  return *c0 >= 0 && *c1 <= ncols && *c0 < *c1;
}

/* Parses the selected fields of row l into row r of d. */
static bool parse_row(const Line *l, RtData *d, int64_t r, int64_t c0, int64_t k,
                      const char *path, RtError *err) {
  char buf[128];
  for (int64_t j = 0; j < k; j++) {
    double v = 0;
    int64_t iv = 0;
    bool fits = field_text(l, c0 + j, buf, sizeof buf);
    bool ok = fits && (d->dtype == RT_I64 ? parse_int(buf, &iv) : parse_double(buf, &v));
    if (!ok) {
      rt_error_set(err, "%s: line %lld, column %lld: '%.40s%s' is not %s", path,
                   (long long)l->number, (long long)(c0 + j + 1), buf, fits ? "" : "...",
                   !buf[0] ? "a number (empty field)"
                   : d->dtype == RT_I64 ? "an integer" : "a finite number");
      return false;
    }
    if (d->dtype == RT_I64) ((int64_t *)d->data)[r * k + j] = iv;
    else ((float *)d->data)[r * k + j] = (float)v;
  }
  return true;
}

/* Parses the whole text into an RtData. */
static RtData *parse_csv(const char *path, const char *text, size_t n,
                         const RtCsvOpts *o, RtError *err) {
  size_t pos = 0;
  int64_t lineno = 0, rows = 0;
  Line first, l;
  if (!next_line(text, n, &pos, &lineno, &first)) {
    rt_error_set(err, "%s: no data rows", path);
    return NULL;
  }
  int64_t ncols = count_fields(&first), c0, c1;
  bool single;
  if (!select_cols(o->cols, ncols, &c0, &c1, &single)) {
    rt_error_set(err, "%s: bad column selection '%s' for %lld columns (use N, A:B, A: "
                      "or :B; negative counts from the end)", path, o->cols,
                 (long long)ncols);
    return NULL;
  }
  /* Auto: a header when a selected field of line 1 is not a number. */
  bool header = o->header == RT_CSV_HEADER_YES ||
                (o->header == RT_CSV_HEADER_AUTO && !fields_are_numbers(&first, c0, c1));
  size_t data_pos = header ? pos : (size_t)(first.p - text);
  int64_t data_lineno = header ? lineno : first.number - 1;
  pos = data_pos;
  for (int64_t ln = data_lineno; next_line(text, n, &pos, &ln, &l); rows++)
    if (count_fields(&l) != ncols) {
      rt_error_set(err, "%s: line %lld has %lld columns, expected %lld (as line %lld)",
                   path, (long long)l.number, (long long)count_fields(&l),
                   (long long)ncols, (long long)first.number);
      return NULL;
    }
  if (rows == 0) {
    rt_error_set(err, "%s: no data rows", path);
    return NULL;
  }
  int64_t dims[2] = {rows, c1 - c0};
  RtData *d = rt_data_new(o->integer ? RT_I64 : RT_F32, single ? 1 : 2, dims, err);
  pos = data_pos;
  for (int64_t r = 0, ln = data_lineno; d && next_line(text, n, &pos, &ln, &l); r++)
    if (!parse_row(&l, d, r, c0, c1 - c0, path, err)) {
      rt_data_free(d);
      d = NULL;
    }
  return d;
}

RtData *rt_load_csv(const char *path, const RtCsvOpts *o, RtError *err) {
  static const RtCsvOpts defaults = {RT_CSV_HEADER_AUTO, NULL, false};
  RtReader r;
  if (!rt_reader_open(&r, path, err)) return NULL;
  int64_t len = 0;
  char *text = rt_reader_read_rest(&r, RT_MAX_BYTES, &len, err);
  rt_reader_close(&r);
  if (!text) return NULL;
  if (memchr(text, '\0', (size_t)len)) {
    rt_error_set(err, "%s: contains NUL bytes (not a text file)", path);
    free(text);
    return NULL;
  }
  RtData *d = parse_csv(path, text, (size_t)len, o ? o : &defaults, err);
  free(text);
  return d;
}
