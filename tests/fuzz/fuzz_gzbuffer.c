/* fuzz_gzbuffer.c -- linked into the targets whose loaders read through
   zlib (rt_io.c), with -Wl,--wrap=gzbuffer: caps the buffer the reader
   asks zlib for (128 KB in, 256 KB out) at 4 KB. Under ASan every
   allocation that large is a fresh mmap and munmap per input, which made
   those targets spend most of their time in the kernel (5x slower).
   zlib reads the same bytes with any buffer size; small ones only cross
   buffer boundaries more often. */
#include <zlib.h>

int __real_gzbuffer(gzFile file, unsigned size);

int __wrap_gzbuffer(gzFile file, unsigned size) {
  return __real_gzbuffer(file, size > 4096 ? 4096 : size);
}
