/* rt_batch.c -- sample orders and batches: a seeded Fisher-Yates shuffle
   whose every swap comes from a counter-based hash of (seed, stream, i), a
   held-out split, and gathering samples into the caller's batch buffer
   (converted to f32 or i32). The last partial batch of an epoch is dropped
   (see rt.h). */
#include "rt_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The counter generator's draw (rt_init.c): shuffles and initializers
   share one mixer. */
uint64_t rt_hash3(uint64_t seed, uint64_t stream, uint64_t i) { return rt_rng_u64(seed, stream, i); }

void rt_iota(int64_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; i++) idx[i] = i;
}

void rt_shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t stream) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(rt_hash3(seed, stream, (uint64_t)i) % (uint64_t)(i + 1));
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

bool rt_split_make(int64_t n, double fraction, int64_t count, uint64_t seed,
                   RtSplit *out, RtError *err) {
  memset(out, 0, sizeof *out);
  if (n < 0 || n > RT_MAX_BYTES / 8) {
    rt_error_set(err, "split: bad sample count %lld", (long long)n);
    return false;
  }
  if (count < 0 && !(fraction >= 0 && fraction < 1)) {
    rt_error_set(err, "split: held-out fraction %g is not in [0, 1)", fraction);
    return false;
  }
  int64_t k = count >= 0 ? count : (int64_t)llround(fraction * (double)n);
  if (k > n) {
    rt_error_set(err, "split: %lld held-out samples requested, the data has %lld",
                 (long long)k, (long long)n);
    return false;
  }
  int64_t *perm = malloc(((size_t)n + 1) * sizeof *perm);
  char *held = calloc((size_t)n + 1, 1);
  out->train = malloc(((size_t)(n - k) + 1) * sizeof *out->train);
  out->held = malloc(((size_t)k + 1) * sizeof *out->held);
  if (!perm || !held || !out->train || !out->held) {
    free(perm);
    free(held);
    rt_split_free(out);
    rt_error_set(err, "split: out of memory for %lld samples", (long long)n);
    return false;
  }
  rt_iota(perm, n);
  rt_shuffle(perm, n, seed, RT_STREAM_SPLIT);
  for (int64_t i = n - k; i < n; i++) held[perm[i]] = 1;
  for (int64_t i = 0; i < n; i++) {
    if (held[i]) out->held[out->nheld++] = i;
    else out->train[out->ntrain++] = i;
  }
  free(perm);
  free(held);
  return true;
}

void rt_split_free(RtSplit *s) {
  free(s->train);
  free(s->held);
  memset(s, 0, sizeof *s);
}

int64_t rt_batch_count(int64_t n, int64_t batch) {
  return batch > 0 && n > 0 ? n / batch : 0;
}

/* Checks that every index names a sample of d. */
static bool check_indices(const RtData *d, const int64_t *idx, int64_t count,
                          const char *name, RtError *err) {
  int64_t n = rt_data_samples(d);
  for (int64_t i = 0; i < count; i++)
    if (idx[i] < 0 || idx[i] >= n) {
      rt_error_set(err, "%s: sample index %lld is outside the %lld samples", name,
                   (long long)idx[i], (long long)n);
      return false;
    }
  return true;
}

bool rt_gather_f32(const RtData *d, const int64_t *idx, int64_t count, double scale,
                   double mean, double std, float *out, const char *name, RtError *err) {
  if (!(std > 0) || !isfinite(std) || !isfinite(scale) || !isfinite(mean)) {
    rt_error_set(err, "%s: bad normalization scale=%g mean=%g std=%g (std must be > 0)",
                 name, scale, mean, std);
    return false;
  }
  if (!check_indices(d, idx, count, name, err)) return false;
  int64_t per = rt_data_sample_numel(d);
  const double a = scale / std, b = mean / std;
  for (int64_t s = 0; s < count; s++) {
    int64_t base = idx[s] * per;
    float *dst = out + s * per;
    switch (d->dtype) {
    case RT_U8:
      for (int64_t e = 0; e < per; e++)
        dst[e] = (float)(((const uint8_t *)d->data)[base + e] * a - b);
      break;
    case RT_I32:
      for (int64_t e = 0; e < per; e++)
        dst[e] = (float)(((const int32_t *)d->data)[base + e] * a - b);
      break;
    case RT_I64:
      for (int64_t e = 0; e < per; e++)
        dst[e] = (float)((double)((const int64_t *)d->data)[base + e] * a - b);
      break;
    case RT_F32:
      for (int64_t e = 0; e < per; e++)
        dst[e] = (float)(((const float *)d->data)[base + e] * a - b);
      break;
    case RT_F64:
      for (int64_t e = 0; e < per; e++)
        dst[e] = (float)(((const double *)d->data)[base + e] * a - b);
      break;
    }
  }
  return true;
}

/* Element i of d as an int32 when it is a whole number in range. */
static bool int32_at(const RtData *d, int64_t i, int32_t *v) {
  double x;
  switch (d->dtype) {
  case RT_U8: *v = ((const uint8_t *)d->data)[i]; return true;
  case RT_I32: *v = ((const int32_t *)d->data)[i]; return true;
  case RT_I64: {
    int64_t w = ((const int64_t *)d->data)[i];
    *v = (int32_t)w;
    return w >= INT32_MIN && w <= INT32_MAX;
  }
  case RT_F32: x = ((const float *)d->data)[i]; break;
  case RT_F64: x = ((const double *)d->data)[i]; break;
  default: return false;
  }
  if (!(x >= INT32_MIN && x <= INT32_MAX) || x != floor(x)) return false;
  *v = (int32_t)x;
  return true;
}

bool rt_gather_i32(const RtData *d, const int64_t *idx, int64_t count, int32_t *out,
                   const char *name, RtError *err) {
  if (!check_indices(d, idx, count, name, err)) return false;
  int64_t per = rt_data_sample_numel(d);
  for (int64_t s = 0; s < count; s++)
    for (int64_t e = 0; e < per; e++)
      if (!int32_at(d, idx[s] * per + e, &out[s * per + e])) {
        rt_error_set(err, "%s: sample %lld element %lld is not a whole number in "
                          "int32 range", name, (long long)idx[s], (long long)e);
        return false;
      }
  return true;
}
