/* fuzz_npy.c -- libFuzzer target for the NPY reader: rt_load_npy of the
   input as a file (plain or gzip, told apart by the magic bytes), then
   the loaded tensor used as training does (fuzz_data.h).
   Seeds: tests/fuzz/corpus/fuzz_npy (numpy's np.save of every supported
   descr, versions 1.0-3.0, gzip copies). */
#include "fuzz_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  RtError e;
  RtData *d = rt_load_npy(fuzz_file(data, size), &e);
  if (d) fuzz_use_data(d);
  rt_data_free(d);
  return 0;
}
