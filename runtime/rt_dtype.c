/* rt_dtype.c -- element types, shape text and byte order: the small helpers
   that checkpoints and AOT libraries need without the data loaders (so
   nothing here touches zlib). */
#include "rt_int.h"

#include <stdio.h>
#include <string.h>

size_t rt_dtype_size(int dtype) {
  switch (dtype) {
  case RT_U8: return 1;
  case RT_I32: return 4;
  case RT_I64: return 8;
  case RT_F32: return 4;
  case RT_F64: return 8;
  }
  return 0;
}

const char *rt_dtype_name(int dtype) {
  switch (dtype) {
  case RT_U8: return "u8";
  case RT_I32: return "i32";
  case RT_I64: return "i64";
  case RT_F32: return "f32";
  case RT_F64: return "f64";
  }
  return "?";
}

void rt_dims_format(char *buf, size_t cap, int rank, const int64_t *dims) {
  size_t len = 0;
  if (!cap) return;
  buf[0] = '\0';
  len += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < rank && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "",
                            (long long)dims[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

bool rt_host_is_little(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

void rt_swap_bytes(void *data, int64_t count, size_t elem) {
  unsigned char *p = data;
  if (elem < 2) return;
  for (int64_t i = 0; i < count; i++, p += elem)
    for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}
