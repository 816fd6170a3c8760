/* fuzz_util.h -- what the fuzz targets share: the input as a C string, and
   as a file for the loaders that take a path. The file is a memfd created
   once per process (an unlinked temporary file where memfd_create is
   missing), rewritten for every input and opened by the loaders as
   /proc/self/fd/N: nothing is written to the file system. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The input as a NUL-terminated heap string (the caller frees it); NULL
   when it holds a NUL byte, which the text readers would stop at. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  if (memchr(data, 0, size)) return NULL;
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* A memfd holding exactly data[0..size); returns its path (static). Any
   failure here is the harness's, so it aborts. */
static inline const char *fuzz_file(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("modelc-fuzz", MFD_CLOEXEC);
    if (fd < 0) {
      char tmp[] = "/tmp/modelc-fuzz-XXXXXX";
      fd = mkstemp(tmp);
      if (fd >= 0) unlink(tmp);
    }
    if (fd < 0) {
      perror("fuzz_file: memfd_create/mkstemp");
      abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
  return path;
}

#endif
