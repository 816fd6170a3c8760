/* rt_data.c -- in-memory data tensors (RtData): allocation, conversion to
   the f32 and i32 a model consumes, the per-sample shape check against a
   model input, loading by file name, and the `--data NAME=PATH,...`
   argument. */
#include "rt_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RtData *rt_data_new(int dtype, int rank, const int64_t *dims, RtError *err) {
  size_t size = rt_dtype_size(dtype);
  if (!size || rank < 0 || rank > RT_MAX_RANK) {
    rt_error_set(err, "data: bad dtype %d or rank %d", dtype, rank);
    return NULL;
  }
  int64_t numel = 1, bytes;
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0 || !rt_mul_ok(numel, dims[i], &numel)) {
      rt_error_set(err, "data: shape overflows");
      return NULL;
    }
  if (!rt_mul_ok(numel, (int64_t)size, &bytes) || bytes > RT_MAX_BYTES) {
    rt_error_set(err, "data: %lld elements of %s are too large", (long long)numel,
                 rt_dtype_name(dtype));
    return NULL;
  }
  RtData *d = calloc(1, sizeof *d);
  if (d) d->data = calloc(1, bytes ? (size_t)bytes : 1);
  if (!d || !d->data) {
    free(d);
    rt_error_set(err, "data: out of memory for %lld bytes", (long long)bytes);
    return NULL;
  }
  d->dtype = dtype;
  d->rank = rank;
  for (int i = 0; i < rank; i++) d->dims[i] = dims[i];
  d->numel = numel;
  return d;
}

void rt_data_free(RtData *d) {
  if (!d) return;
  free(d->data);
  free(d);
}

int64_t rt_data_samples(const RtData *d) { return d->rank ? d->dims[0] : 1; }

int64_t rt_data_sample_numel(const RtData *d) {
  int64_t samples = rt_data_samples(d);
  if (samples > 0) return d->numel / samples;
  /* No samples: the other extents may multiply past int64 (an empty IDX
     file of [0,2^32-1,2^32-1,2^32-1]); such a count saturates. */
  int64_t n = 1;
  for (int i = 1; i < d->rank; i++)
    if (d->dims[i] == 0) return 0;
  for (int i = 1; i < d->rank; i++)
    if (!rt_mul_ok(n, d->dims[i], &n)) return INT64_MAX;
  return n;
}

/* Element i of d as a double (exact for every dtype but i64 beyond 2^53). */
static double value_at(const RtData *d, int64_t i) {
  switch (d->dtype) {
  case RT_U8: return ((const uint8_t *)d->data)[i];
  case RT_I32: return ((const int32_t *)d->data)[i];
  case RT_I64: return (double)((const int64_t *)d->data)[i];
  case RT_F32: return ((const float *)d->data)[i];
  case RT_F64: return ((const double *)d->data)[i];
  }
  return 0;
}

double rt_default_scale(int dtype) { return dtype == RT_U8 ? 1.0 / 255.0 : 1.0; }

RtData *rt_data_to_f32(const RtData *d, double scale, double mean, double std,
                       const char *name, RtError *err) {
  if (!isfinite(scale) || !isfinite(mean) || !isfinite(std) || std <= 0) {
    rt_error_set(err, "%s: bad normalization scale=%g mean=%g std=%g (std must be > 0)",
                 name, scale, mean, std);
    return NULL;
  }
  RtData *out = rt_data_new(RT_F32, d->rank, d->dims, err);
  if (!out) return NULL;
  float *dst = out->data;
  const double a = scale / std, b = mean / std;   /* as rt_gather_f32 does */
  for (int64_t i = 0; i < d->numel; i++) dst[i] = (float)(value_at(d, i) * a - b);
  return out;
}

/* "[3]" or "[3,17,4]": the multi-index of flat element i. */
static void format_index(char *buf, size_t cap, const RtData *d, int64_t i) {
  int64_t idx[RT_MAX_RANK];
  for (int k = d->rank - 1; k >= 0; k--) {
    idx[k] = d->dims[k] ? i % d->dims[k] : 0;
    i = d->dims[k] ? i / d->dims[k] : 0;
  }
  rt_dims_format(buf, cap, d->rank, idx);
}

/* Element i as an exact integer, false when it is not a whole number. */
static bool integer_at(const RtData *d, int64_t i, int64_t *v) {
  if (d->dtype == RT_I64) {
    *v = ((const int64_t *)d->data)[i];
    return true;
  }
  double x = value_at(d, i);
  if (!(x >= -9.2e18 && x <= 9.2e18) || x != floor(x)) return false;
  *v = (int64_t)x;
  return true;
}

RtData *rt_data_to_i32(const RtData *d, int64_t lo, int64_t hi, const char *name,
                       RtError *err) {
  if (lo >= hi || lo < INT32_MIN || hi > (int64_t)INT32_MAX + 1) {
    rt_error_set(err, "%s: bad label range [%lld, %lld)", name, (long long)lo,
                 (long long)hi);
    return NULL;
  }
  RtData *out = rt_data_new(RT_I32, d->rank, d->dims, err);
  if (!out) return NULL;
  int32_t *dst = out->data;
  for (int64_t i = 0; i < d->numel; i++) {
    int64_t v;
    if (!integer_at(d, i, &v) || v < lo || v >= hi) {
      char at[160];
      format_index(at, sizeof at, d, i);
      rt_error_set(err, "%s: value %.17g at %s is %s [%lld, %lld)", name,
                   value_at(d, i), at,
                   integer_at(d, i, &v) ? "outside" : "not a whole number in",
                   (long long)lo, (long long)hi);
      rt_data_free(out);
      return NULL;
    }
    dst[i] = (int32_t)v;
  }
  return out;
}

bool rt_data_check_sample_shape(const RtData *d, const char *name,
                                const char *input, int rank,
                                const int64_t *sample_dims, RtError *err) {
  char have[200], dims[200], want[208];
  int64_t need = 1;
  for (int i = 0; i < rank; i++)
    if (sample_dims[i] < 0 || !rt_mul_ok(need, sample_dims[i], &need)) need = -1;
  rt_dims_format(have, sizeof have, d->rank, d->dims);
  rt_dims_format(dims, sizeof dims, rank, sample_dims);
  snprintf(want, sizeof want, "[B%s%s", rank ? "," : "]", rank ? dims + 1 : "");
  if (d->rank == 0) {
    rt_error_set(err, "%s: data of shape [] has no sample dimension to feed %s %s",
                 name, input, want);
    return false;
  }
  int64_t per = rt_data_sample_numel(d);
  if (per != need) {
    rt_error_set(err,
                 "%s: data of shape %s (%lld values per sample) does not fit input "
                 "%s %s (%lld values per sample)",
                 name, have, (long long)per, input, want, (long long)need);
    return false;
  }
  return true;
}

/* Whether path ends with suffix, ignoring case. */
static bool ends_with(const char *path, const char *suffix) {
  size_t n = strlen(path), k = strlen(suffix);
  if (k > n) return false;
  for (size_t i = 0; i < k; i++)
    if (tolower((unsigned char)path[n - k + i]) != tolower((unsigned char)suffix[i]))
      return false;
  return true;
}

RtData *rt_load(const char *path, const RtCsvOpts *o, RtError *err) {
  if (ends_with(path, ".npy") || ends_with(path, ".npy.gz")) return rt_load_npy(path, err);
  if (ends_with(path, ".csv") || ends_with(path, ".csv.gz")) return rt_load_csv(path, o, err);
  if (ends_with(path, ".idx") || ends_with(path, "-ubyte") || ends_with(path, ".gz"))
    return rt_load_idx(path, err);
  rt_error_set(err, "%s: unknown data format (expected a name ending in .idx, -ubyte, "
                    ".gz, .npy or .csv)", path);
  return NULL;
}

/* Whether s starts with "KEY=", KEY a lower-case word: the start of an
   option after the path. */
static bool starts_with_key(const char *s) {
  const char *p = s;
  while (islower((unsigned char)*p)) p++;
  return p > s && *p == '=';
}

/* A number, or a fraction "A/B" with B != 0. */
static bool parse_number(const char *s, double *out) {
  char *end;
  double a = strtod(s, &end);
  if (end == s) return false;
  if (*end == '/') {
    const char *t = end + 1;
    double b = strtod(t, &end);
    if (end == t || b == 0) return false;
    a /= b;
  }
  *out = a;
  return *end == '\0' && isfinite(a);
}

static bool parse_yes_no(const char *v, bool *out) {
  if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) *out = true;
  else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) *out = false;
  else return false;
  return true;
}

/* Applies one "KEY=VALUE" (key known) to a. */
static bool apply_option(RtDataArg *a, const char *key, const char *v, RtError *err) {
  bool flag, ok = true;
  if (!strcmp(key, "cols")) {
    ok = strlen(v) < sizeof a->cols;
    if (ok) strcpy(a->cols, v);
  } else if (!strcmp(key, "header")) {
    if (!strcmp(v, "auto")) a->header = RT_CSV_HEADER_AUTO;
    else if ((ok = parse_yes_no(v, &flag))) a->header = flag ? RT_CSV_HEADER_YES : RT_CSV_HEADER_NO;
  } else if (!strcmp(key, "int")) {
    ok = parse_yes_no(v, &a->integer);
  } else if (!strcmp(key, "vocab")) {
    ok = *v && strlen(v) < sizeof a->vocab;
    if (ok) strcpy(a->vocab, v);
  } else if (!strcmp(key, "cased")) {
    ok = parse_yes_no(v, &a->cased);
  } else if (!strcmp(key, "scale") || !strcmp(key, "mean") || !strcmp(key, "std")) {
    double x;
    ok = parse_number(v, &x);
    if (ok) *(key[1] == 'c' ? &a->scale : key[0] == 'm' ? &a->mean : &a->std) = x;
  } else {
    rt_error_set(err, "--data %s: unknown option '%s' (known: cols, header, int, "
                      "scale, mean, std, vocab, cased)", a->name, key);
    return false;
  }
  if (!ok) rt_error_set(err, "--data %s: bad value '%s' for %s", a->name, v, key);
  return ok;
}

bool rt_data_arg_parse(const char *arg, RtDataArg *out, RtError *err) {
  memset(out, 0, sizeof *out);
  out->scale = out->mean = out->std = NAN;
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof out->name) {
    rt_error_set(err, "--data '%s': expected NAME=PATH", arg);
    return false;
  }
  memcpy(out->name, arg, (size_t)(eq - arg));
  const char *path = eq + 1, *opts = path;
  while ((opts = strchr(opts, ',')) && !starts_with_key(opts + 1)) opts++;
  size_t plen = opts ? (size_t)(opts - path) : strlen(path);
  if (plen == 0 || plen >= sizeof out->path) {
    rt_error_set(err, "--data %s: %s path", out->name, plen ? "too long a" : "missing");
    return false;
  }
  memcpy(out->path, path, plen);
  while (opts) {
    char item[256];
    const char *next = strchr(opts + 1, ',');
    while (next && !starts_with_key(next + 1)) next = strchr(next + 1, ',');
    size_t len = next ? (size_t)(next - opts - 1) : strlen(opts + 1);
    if (len >= sizeof item) {
      rt_error_set(err, "--data %s: option too long", out->name);
      return false;
    }
    memcpy(item, opts + 1, len);
    item[len] = '\0';
    char *val = strchr(item, '=');
    *val++ = '\0';
    if (!apply_option(out, item, val, err)) return false;
    opts = next;
  }
  return true;
}

RtCsvOpts rt_data_arg_csv(const RtDataArg *a) {
  RtCsvOpts o = {a->header, a->cols[0] ? a->cols : NULL, a->integer};
  return o;
}
