/* rt_idx.c -- loads IDX files, the format of MNIST and Fashion-MNIST:
   bytes 00 00 TYPE RANK, RANK big-endian u32 extents, then the big-endian
   elements. i8 and i16 widen to i32; everything is checked against the
   bytes the file holds before the data is allocated. */
#include "rt_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct IdxType {
  int code;          /* TYPE byte */
  const char *name;  /* for messages */
  size_t size;       /* bytes per element in the file */
  int dtype;         /* RtData dtype it loads as */
} IdxType;

static const IdxType idx_types[] = {
    {0x08, "u8", 1, RT_U8},   {0x09, "i8", 1, RT_I32},  {0x0B, "i16", 2, RT_I32},
    {0x0C, "i32", 4, RT_I32}, {0x0D, "f32", 4, RT_F32}, {0x0E, "f64", 8, RT_F64},
};

static const IdxType *find_type(int code) {
  for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
    if (idx_types[i].code == code) return &idx_types[i];
  return NULL;
}

/* "60000 samples of 28x28 u8 (47040000 bytes)". */
static void describe(char *buf, size_t cap, int rank, const int64_t *dims,
                     const IdxType *t, int64_t bytes) {
  size_t len = (size_t)snprintf(buf, cap, "%lld samples of ", (long long)dims[0]);
  for (int i = 1; i < rank && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%lld%s", (long long)dims[i],
                            i + 1 < rank ? "x" : " ");
  if (len < cap)
    snprintf(buf + len, cap - len, "%s (%lld bytes)", t->name, (long long)bytes);
}

/* Reads and checks the magic, type and extents. */
static bool read_header(RtReader *r, const IdxType **type, int *rank,
                        int64_t *dims, RtError *err) {
  unsigned char h[4 + 4 * 255];
  int64_t n = rt_reader_read(r, h, 4, err);
  if (n < 0) return false;
  if (n < 4) {
    rt_error_set(err, "%s: too short for an IDX header (%lld bytes)", r->path, (long long)n);
    return false;
  }
  if (h[0] != 0 || h[1] != 0 || !(*type = find_type(h[2]))) {
    rt_error_set(err, "%s: bad magic %02x %02x %02x %02x (not an IDX file: expected "
                      "00 00, a type 08/09/0B/0C/0D/0E and the rank)",
                 r->path, h[0], h[1], h[2], h[3]);
    return false;
  }
  *rank = h[3];
  if (*rank < 1 || *rank > RT_MAX_RANK) {
    rt_error_set(err, "%s: IDX rank %d is not supported (1 to %d)", r->path, *rank,
                 RT_MAX_RANK);
    return false;
  }
  n = rt_reader_read(r, h + 4, 4 * *rank, err);
  if (n < 0) return false;
  if (n < 4 * *rank) {
    rt_error_set(err, "%s: truncated IDX header: rank %d needs %d bytes of extents, "
                      "file has %lld", r->path, *rank, 4 * *rank, (long long)n);
    return false;
  }
  for (int i = 0; i < *rank; i++) {
    const unsigned char *p = h + 4 + 4 * i;
    dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                        (uint32_t)p[2] << 8 | p[3]);
  }
  return true;
}

/* Converts the big-endian file elements in raw into d's dtype. */
static void decode(const IdxType *t, const void *raw, RtData *d) {
  const unsigned char *p = raw;
  int32_t *dst = d->data;
  if (t->code == 0x09) {
    for (int64_t i = 0; i < d->numel; i++) dst[i] = (int8_t)p[i];
  } else if (t->code == 0x0B) {
    for (int64_t i = 0; i < d->numel; i++)
      dst[i] = (int16_t)(uint16_t)(p[2 * i] << 8 | p[2 * i + 1]);
  } else {
    memcpy(d->data, raw, (size_t)d->numel * t->size);
    if (rt_host_is_little()) rt_swap_bytes(d->data, d->numel, t->size);
  }
}

/* Reads the elements the header announced, then checks nothing follows. */
static RtData *read_body(RtReader *r, const IdxType *t, int rank,
                         const int64_t *dims, RtError *err) {
  int64_t numel = 1, bytes;
  for (int i = 0; i < rank; i++)
    if (!rt_mul_ok(numel, dims[i], &numel)) numel = -1;
  char what[256];
  if (numel < 0 || !rt_mul_ok(numel, (int64_t)t->size, &bytes) || bytes > RT_MAX_BYTES) {
    rt_dims_format(what, sizeof what, rank, dims);
    rt_error_set(err, "%s: IDX extents %s are too large", r->path, what);
    return NULL;
  }
  describe(what, sizeof what, rank, dims, t, bytes);
  void *raw;
  int64_t got;
  int st = rt_reader_read_payload(r, bytes, &raw, &got, err);
  if (st <= 0) {
    if (st == 0)
      rt_error_set(err, "%s: truncated: header says %s, file has %lld bytes of data",
                   r->path, what, (long long)got);
    return NULL;
  }
  int64_t extra = rt_reader_count_rest(r, err);
  RtData *d = extra == 0 ? rt_data_new(t->dtype, rank, dims, err) : NULL;
  if (extra > 0)
    rt_error_set(err, "%s: header says %s, file has %s%lld bytes of data (%lld extra)",
                 r->path, what, extra >= RT_COUNT_CAP ? "more than " : "",
                 (long long)(bytes + extra), (long long)extra);
  if (d && t->code != 0x09 && t->code != 0x0B) {
    /* same element size: the buffer read becomes the data, swapped in place
       (no second copy of a large file at the peak) */
    free(d->data);
    d->data = raw;
    if (rt_host_is_little()) rt_swap_bytes(d->data, d->numel, t->size);
    return d;
  }
  if (d) decode(t, raw, d);
  free(raw);
  return d;
}

RtData *rt_load_idx(const char *path, RtError *err) {
  RtReader r;
  if (!rt_reader_open(&r, path, err)) return NULL;
  const IdxType *type = NULL;
  int rank = 0;
  int64_t dims[RT_MAX_RANK];
  RtData *d = NULL;
  if (read_header(&r, &type, &rank, dims, err)) d = read_body(&r, type, rank, dims, err);
  rt_reader_close(&r);
  return d;
}
