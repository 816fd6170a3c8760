/* rt_npy.c -- loads NumPy .npy files (format versions 1.0, 2.0 and 3.0):
   the magic "\x93NUMPY", a version, a header length, a Python dict literal
   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }, then
   the raw little-endian C-ordered elements. The dict is parsed strictly. */
#include "rt_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER 65536   /* numpy itself refuses headers over 10000 bytes */

typedef struct NpyHeader {
  char descr[16];
  int fortran;          /* -1 unset, 0 False, 1 True */
  int rank;             /* -1 unset */
  int64_t dims[RT_MAX_RANK];
} NpyHeader;

typedef struct Cursor {
  const char *p, *end;
} Cursor;

static void skip_space(Cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static bool eat(Cursor *c, char ch) {
  skip_space(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* 'text' or "text" into buf (no escapes: none occur in npy headers). */
static bool quoted(Cursor *c, char *buf, size_t cap) {
  skip_space(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (n + 1 >= cap || *c->p == '\\') return false;
    buf[n++] = *c->p++;
  }
  buf[n] = '\0';
  return c->p++ < c->end;
}

static bool word(Cursor *c, const char *w) {
  size_t n = strlen(w);
  skip_space(c);
  if ((size_t)(c->end - c->p) < n || strncmp(c->p, w, n) != 0) return false;
  c->p += n;
  return true;
}

/* (d0, d1, ...) with an optional trailing comma; "(5,)" and "()" too. */
static bool shape_tuple(Cursor *c, NpyHeader *h) {
  if (!eat(c, '(')) return false;
  h->rank = 0;
  for (;;) {
    if (eat(c, ')')) return true;
    if (h->rank == RT_MAX_RANK) return false;
    skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return false;
      v = v * 10 + (*c->p++ - '0');
    }
    if (c->p < c->end && *c->p == 'L') c->p++;   /* written by Python 2 */
    h->dims[h->rank++] = v;
    if (!eat(c, ',')) return eat(c, ')');
  }
}

/* One "'key': value" entry; *what names what was wrong. */
static bool entry(Cursor *c, NpyHeader *h, const char **what) {
  char key[32];
  *what = "malformed dict";
  if (!quoted(c, key, sizeof key) || !eat(c, ':')) return false;
  *what = "duplicate or unknown key";
  if (!strcmp(key, "descr") && !h->descr[0]) {
    *what = "bad 'descr'";
    return quoted(c, h->descr, sizeof h->descr) && h->descr[0];
  }
  if (!strcmp(key, "fortran_order") && h->fortran < 0) {
    *what = "bad 'fortran_order'";
    h->fortran = word(c, "True") ? 1 : word(c, "False") ? 0 : -1;
    return h->fortran >= 0;
  }
  if (!strcmp(key, "shape") && h->rank < 0) {
    *what = "bad 'shape' (a tuple of at most 8 non-negative integers)";
    return shape_tuple(c, h);
  }
  return false;
}

static bool parse_dict(const char *text, size_t len, NpyHeader *h, const char **what) {
  Cursor c = {text, text + len};
  memset(h, 0, sizeof *h);
  h->fortran = h->rank = -1;
  *what = "malformed dict";
  if (!eat(&c, '{')) return false;
  while (!eat(&c, '}')) {
    if (!entry(&c, h, what)) return false;
    if (!eat(&c, ',')) {
      *what = "malformed dict";
      if (!eat(&c, '}')) return false;
      break;
    }
  }
  skip_space(&c);
  *what = c.p != c.end ? "text after the dict"
          : !h->descr[0] || h->fortran < 0 || h->rank < 0
              ? "missing 'descr', 'fortran_order' or 'shape'"
              : NULL;
  return *what == NULL;
}

static int descr_dtype(const char *d) {
  static const struct {
    const char *descr;
    int dtype;
  } map[] = {{"<f4", RT_F32}, {"<f8", RT_F64}, {"<i4", RT_I32},
             {"<i8", RT_I64}, {"|u1", RT_U8},  {"|b1", RT_U8}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(d, map[i].descr)) return map[i].dtype;
  return -1;
}

/* Reads the magic, version and header dict. */
static bool read_header(RtReader *r, NpyHeader *h, RtError *err) {
  unsigned char pre[12];
  int64_t n = rt_reader_read(r, pre, 10, err);
  if (n < 0) return false;
  if (n < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rt_error_set(err, "%s: bad magic (not an NPY file)", r->path);
    return false;
  }
  if (pre[6] < 1 || pre[6] > 3) {
    rt_error_set(err, "%s: NPY format version %d.%d is not supported (1.0 to 3.0)",
                 r->path, pre[6], pre[7]);
    return false;
  }
  int64_t hlen = pre[8] | pre[9] << 8;
  if (pre[6] > 1) {
    if (rt_reader_read(r, pre + 10, 2, err) != 2) {
      rt_error_set(err, "%s: truncated NPY header", r->path);
      return false;
    }
    hlen |= (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
  }
  if (hlen > MAX_HEADER) {
    rt_error_set(err, "%s: NPY header of %lld bytes is too large (limit %d)", r->path,
                 (long long)hlen, MAX_HEADER);
    return false;
  }
  char *text = malloc((size_t)hlen + 1);
  n = text ? rt_reader_read(r, text, hlen, err) : -1;
  const char *what = NULL;
  bool ok = n == hlen && parse_dict(text, (size_t)hlen, h, &what);
  if (n >= 0 && n < hlen)
    rt_error_set(err, "%s: truncated NPY header: %lld of %lld bytes", r->path,
                 (long long)n, (long long)hlen);
  else if (what)
    rt_error_set(err, "%s: bad NPY header: %s", r->path, what);
  else if (!text)
    rt_error_set(err, "%s: out of memory", r->path);
  free(text);
  return ok;
}

/* Checks the header's dtype and order, then reads exactly its elements. */
static RtData *read_body(RtReader *r, const NpyHeader *h, RtError *err) {
  int dtype = descr_dtype(h->descr);
  if (dtype < 0) {
    rt_error_set(err, "%s: NPY dtype '%s' is not supported ('<f4', '<f8', '<i4', "
                      "'<i8', '|u1', '|b1')", r->path, h->descr);
    return NULL;
  }
  if (h->fortran) {
    rt_error_set(err, "%s: NPY arrays in Fortran order are not supported (save a "
                      "C-ordered array, e.g. np.ascontiguousarray)", r->path);
    return NULL;
  }
  char shape[200];
  rt_dims_format(shape, sizeof shape, h->rank, h->dims);
  int64_t numel = 1, bytes;
  for (int i = 0; i < h->rank; i++)
    if (!rt_mul_ok(numel, h->dims[i], &numel)) numel = -1;
  if (numel < 0 || !rt_mul_ok(numel, (int64_t)rt_dtype_size(dtype), &bytes) ||
      bytes > RT_MAX_BYTES) {
    rt_error_set(err, "%s: NPY shape %s is too large", r->path, shape);
    return NULL;
  }
  void *raw;
  int64_t got;
  int st = rt_reader_read_payload(r, bytes, &raw, &got, err);
  if (st <= 0) {
    if (st == 0)
      rt_error_set(err, "%s: truncated: header says shape %s of %s (%lld bytes), file "
                        "has %lld bytes of data", r->path, shape, h->descr,
                   (long long)bytes, (long long)got);
    return NULL;
  }
  int64_t extra = rt_reader_count_rest(r, err);
  RtData *d = extra == 0 ? rt_data_new(dtype, h->rank, h->dims, err) : NULL;
  if (extra > 0)
    rt_error_set(err, "%s: header says shape %s of %s (%lld bytes), file has %s%lld "
                      "bytes of data", r->path, shape, h->descr, (long long)bytes,
                 extra >= RT_COUNT_CAP ? "more than " : "", (long long)(bytes + extra));
  if (d) {
    memcpy(d->data, raw, (size_t)bytes);
    if (!rt_host_is_little()) rt_swap_bytes(d->data, d->numel, rt_dtype_size(dtype));
  }
  free(raw);
  return d;
}

RtData *rt_load_npy(const char *path, RtError *err) {
  RtReader r;
  if (!rt_reader_open(&r, path, err)) return NULL;
  NpyHeader h;
  RtData *d = read_header(&r, &h, err) ? read_body(&r, &h, err) : NULL;
  rt_reader_close(&r);
  return d;
}
