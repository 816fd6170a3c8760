/* fuzz_idx.c -- libFuzzer target for the IDX (MNIST) reader: rt_load_idx
   of the input as a file. The reader detects gzip by its magic bytes, so
   this one target covers plain and gzip files (seeded with both); the
   loaded tensor is then used as training does (fuzz_data.h).
   Seeds: tests/fuzz/corpus/fuzz_idx (every element type, ranks 1-3, and
   gzip copies). */
#include "fuzz_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  RtError e;
  RtData *d = rt_load_idx(fuzz_file(data, size), &e);
  if (d) fuzz_use_data(d);
  rt_data_free(d);
  return 0;
}
