/* rt_text.c -- loads text-classification data: lines "label<TAB>text",
   each text encoded as one BERT input row (rt_bert_encode) and each label
   checked against the model's classes. The file is read in two passes: the
   first checks every line and counts the samples, so nothing is allocated
   for a file that fails, the second encodes. */
#include "rt_io.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Line {
  const char *p;     /* start of the line */
  size_t len;        /* without the newline and a trailing '\r' */
  int64_t number;    /* 1-based line number in the file */
} Line;

/* The next line at or after *pos that is not blank (only spaces and
   tabs); false at the end. */
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

/* Parses a whole number written in decimal, as an integer or as a number
   with no fraction ("3.0", "1e1"); values beyond int64 saturate. */
static bool parse_whole(const char *s, int64_t *v) {
  if (!*s || s[strspn(s, "0123456789+-.eE")]) return false;   /* no hex, inf, nan */
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (*end == '\0' && errno == 0) {
    *v = x;
    return true;
  }
  double d = strtod(s, &end);
  if (*end || !isfinite(d) || d != floor(d)) return false;
  *v = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
  return true;
}

/* The label of l (the text before its first tab, trimmed), checked; *text
   and *tlen get the rest of the line. */
static bool parse_label(const Line *l, const char *path, int64_t nclasses, int32_t *label,
                        const char **text, size_t *tlen, RtError *err) {
  const char *tab = memchr(l->p, '\t', l->len);
  if (!tab) {
    rt_error_set(err, "%s:%lld: no tab between the label and the text", path,
                 (long long)l->number);
    return false;
  }
  const char *s = l->p, *e = tab;
  while (s < e && *s == ' ') s++;
  while (e > s && e[-1] == ' ') e--;
  if (s == e) {
    rt_error_set(err, "%s:%lld: no label before the tab", path, (long long)l->number);
    return false;
  }
  char buf[64];   /* the label as written, cut for the message when long */
  size_t n = (size_t)(e - s) < sizeof buf - 1 ? (size_t)(e - s) : sizeof buf - 1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  const char *more = (size_t)(e - s) > n ? "..." : "";
  int64_t v;
  if (*more || !parse_whole(buf, &v)) {
    rt_error_set(err, "%s:%lld: label '%s%s' is not a whole number", path,
                 (long long)l->number, buf, more);
    return false;
  }
  if (v < 0 || v >= nclasses) {
    rt_error_set(err, "%s:%lld: label %s is outside the model's %lld classes [0, %lld)",
                 path, (long long)l->number, buf, (long long)nclasses, (long long)nclasses);
    return false;
  }
  *label = (int32_t)v;
  *text = tab + 1;
  *tlen = l->len - (size_t)(tab + 1 - l->p);
  return true;
}

static bool check_opts(const RtTextOpts *o, const char *path, RtError *err) {
  if (!o || o->max_len < 2) {
    rt_error_set(err, "%s: max_len %lld is too small ([CLS] and [SEP] need 2 tokens)", path,
                 o ? (long long)o->max_len : 0LL);
    return false;
  }
  if (o->nclasses < 1 || o->nclasses > INT32_MAX) {
    rt_error_set(err, "%s: %lld classes (a classifier needs 1 to %d)", path,
                 (long long)o->nclasses, INT32_MAX);
    return false;
  }
  return true;
}

/* Allocates the four arrays for n rows. */
static bool alloc_rows(RtTextData *t, int64_t n, int64_t max_len, RtError *err) {
  int64_t dims[2] = {n, max_len};
  t->ids = rt_data_new(RT_I32, 2, dims, err);
  t->types = t->ids ? rt_data_new(RT_I32, 2, dims, err) : NULL;
  t->mask = t->types ? rt_data_new(RT_I32, 2, dims, err) : NULL;
  t->labels = t->mask ? rt_data_new(RT_I32, 1, dims, err) : NULL;
  return t->labels != NULL;
}

/* Checks every line and counts the samples, then encodes them. */
static bool parse_tsv(const char *path, const char *text, size_t n, const RtVocab *v,
                      const RtTextOpts *o, RtTextData *out, RtError *err) {
  size_t start = 0, pos;
  if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) start = 3;   /* a UTF-8 BOM */
  int64_t rows = 0, lineno = 0;
  int32_t label;
  const char *body;
  size_t blen;
  Line l;
  for (pos = start; next_line(text, n, &pos, &lineno, &l); rows++)
    if (!parse_label(&l, path, o->nclasses, &label, &body, &blen, err)) return false;
  if (rows == 0) {
    rt_error_set(err, "%s: no samples", path);
    return false;
  }
  if (!alloc_rows(out, rows, o->max_len, err)) return false;
  int64_t L = o->max_len;
  int32_t *ids = out->ids->data, *types = out->types->data, *mask = out->mask->data;
  pos = start;
  lineno = 0;
  for (int64_t r = 0; next_line(text, n, &pos, &lineno, &l); r++) {
    parse_label(&l, path, o->nclasses, &label, &body, &blen, err);   /* checked above */
    ((int32_t *)out->labels->data)[r] = label;
    out->ntruncated += rt_bert_encode(v, body, blen, o->lower_case, L, ids + r * L,
                                      types + r * L, mask + r * L);
  }
  return true;
}

bool rt_load_text_tsv(const char *path, const RtVocab *v, const RtTextOpts *o,
                      RtTextData *out, RtError *err) {
  memset(out, 0, sizeof *out);
  if (!v) {
    rt_error_set(err, "%s: no vocabulary to encode the text with", path);
    return false;
  }
  if (!check_opts(o, path, err)) return false;
  RtReader r;
  if (!rt_reader_open(&r, path, err)) return false;
  int64_t len = 0;
  char *text = rt_reader_read_rest(&r, RT_MAX_BYTES, &len, err);
  rt_reader_close(&r);
  if (!text) return false;
  bool ok = parse_tsv(path, text, (size_t)len, v, o, out, err);
  free(text);
  if (!ok) rt_text_data_free(out);
  return ok;
}

void rt_text_data_free(RtTextData *t) {
  if (!t) return;
  rt_data_free(t->ids);
  rt_data_free(t->types);
  rt_data_free(t->mask);
  rt_data_free(t->labels);
  memset(t, 0, sizeof *t);
}
