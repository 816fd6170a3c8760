/* fuzz_safetensors.c -- libFuzzer target for the checkpoint reader:
   rt_safetensors_load of the input as a file, then every tensor looked up
   by name and every byte of its data read (ASan checks the sizes), every
   metadata key looked up. Seeds: tests/fuzz/corpus/fuzz_safetensors
   (checkpoints of every dtype, with metadata; saved by modelc and by
   hand). */
#include "fuzz_util.h"
#include "rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  RtError e;
  RtCheckpoint *c = rt_safetensors_load(fuzz_file(data, size), &e);
  if (!c) return 0;
  volatile uint8_t sum = 0;
  for (size_t i = 0; i < c->ntensors; i++) {
    const RtTensorRef *t = &c->tensors[i];
    if (rt_checkpoint_find(c, t->name) == NULL) abort();   /* every tensor is found by name */
    int64_t n = 1;   /* dims of an empty tensor may multiply past int64 */
    for (int k = 0; k < t->rank && n; k++)
      if (t->dims[k] == 0) n = 0;
    for (int k = 0; k < t->rank && n; k++)
      if (__builtin_mul_overflow(n, t->dims[k], &n)) abort();
    const uint8_t *b = t->data;
    for (int64_t j = 0; j < n * (int64_t)rt_dtype_size(t->dtype); j++) sum += b[j];
  }
  for (size_t i = 0; i < c->nmeta; i++)
    if (rt_checkpoint_meta(c, c->meta[i].key) == NULL) abort();
  (void)sum;
  rt_checkpoint_find(c, "");
  rt_checkpoint_meta(c, "format");
  rt_checkpoint_free(c);
  return 0;
}
