/* fuzz_data.h -- what the data-loader targets (fuzz_npy, fuzz_idx,
   fuzz_csv) do with a tensor that loaded, as `modelc train` does: read
   every byte of it, check its per-sample shape against an input, convert
   it to f32 and to i32 labels, and gather its last sample. */
#ifndef FUZZ_DATA_H
#define FUZZ_DATA_H

#include "rt.h"

#include <stdlib.h>

static inline void fuzz_use_data(RtData *d) {
  RtError e;
  volatile uint8_t sum = 0;   /* every byte is read: ASan checks the buffer's size */
  const uint8_t *bytes = d->data;
  for (int64_t i = 0; i < d->numel * (int64_t)rt_dtype_size(d->dtype); i++) sum += bytes[i];
  (void)sum;
  static const int64_t sample[2] = {28, 28};
  rt_data_check_sample_shape(d, "data", "x", 2, sample, &e);
  rt_data_free(rt_data_to_f32(d, rt_default_scale(d->dtype), 0.5, 2.0, "data", &e));
  rt_data_free(rt_data_to_i32(d, 0, 10, "data", &e));
  int64_t n = rt_data_samples(d);
  int64_t per = d->rank ? rt_data_sample_numel(d) : 1;
  if (n > 0 && per <= 65536) {
    int64_t idx = n - 1;
    float *f = malloc((size_t)(per ? per : 1) * sizeof *f);
    int32_t *l = malloc((size_t)(per ? per : 1) * sizeof *l);
    if (!f || !l) abort();
    rt_gather_f32(d, &idx, 1, 1.0, 0.0, 1.0, f, "data", &e);
    rt_gather_i32(d, &idx, 1, l, "data", &e);
    free(f);
    free(l);
  }
}

#endif
