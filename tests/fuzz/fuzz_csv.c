/* fuzz_csv.c -- libFuzzer target for the CSV reader: the first input byte
   picks the options (bits 0-1 the header mode, bit 2 integer values, bits
   3-5 one of eight column selections), the rest is the file, read by
   rt_load_csv (plain or gzip) and then used as training does
   (fuzz_data.h). Seeds: tests/fuzz/corpus/fuzz_csv (each starts with its
   option byte). */
#include "fuzz_data.h"
#include "fuzz_util.h"

static const char *const cols[8] = {NULL, "", "0", "1:", ":-1", "2:5", "-1", "1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return -1;
  uint8_t opt = data[0];
  RtCsvOpts o = {.header = (opt & 3) % 3, .integer = (opt >> 2) & 1, .cols = cols[(opt >> 3) & 7]};
  RtError e;
  RtData *d = rt_load_csv(fuzz_file(data + 1, size - 1), &o, &e);
  if (d) fuzz_use_data(d);
  rt_data_free(d);
  return 0;
}
