/* rt_io.c -- reads plain and gzip data files through zlib with sizes bounded
   by what the file actually holds. Shared by the IDX, NPY and CSV
   loaders. */
#include "rt_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GZ_CHUNK ((int64_t)1 << 30)   /* gzread takes an unsigned length */
#define FIRST_CAP ((int64_t)1 << 20)  /* first buffer for data of unknown size */

bool rt_reader_open(RtReader *r, const char *path, RtError *err) {
  memset(r, 0, sizeof *r);
  r->path = path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rt_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rt_error_set(err, "%s: not a regular file", path);
    close(fd);
    return false;
  }
  unsigned char magic[2] = {0, 0};
  r->file_size = st.st_size;
  r->is_gzip = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  r->gz = gzdopen(fd, "rb");
  if (!r->gz) {
    rt_error_set(err, "%s: cannot open: out of memory", path);
    close(fd);
    return false;
  }
  gzbuffer(r->gz, 1 << 17);
  return true;
}

void rt_reader_close(RtReader *r) {
  if (r->gz) gzclose(r->gz);
  r->gz = NULL;
}

/* Words a gzip failure: a stream cut short or corrupt data. */
static void gz_error(RtReader *r, RtError *err) {
  int code = Z_OK;
  const char *msg = gzerror(r->gz, &code);
  if (code == Z_BUF_ERROR)
    rt_error_set(err, "%s: truncated gzip stream (it ends after %lld bytes of data)",
                 r->path, (long long)r->pos);
  else if (code == Z_ERRNO)
    rt_error_set(err, "%s: read error: %s", r->path, strerror(errno));
  else {
    /* zlib prefixes its message with the name it was given, "<fd:3>: ". */
    const char *sep = msg && strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    rt_error_set(err, "%s: corrupt gzip data: %s", r->path,
                 sep ? sep + 2 : msg ? msg : "unknown error");
  }
}

int64_t rt_reader_read(RtReader *r, void *buf, int64_t n, RtError *err) {
  int64_t done = 0;
  while (done < n) {
    int64_t want = n - done < GZ_CHUNK ? n - done : GZ_CHUNK;
    int got = gzread(r->gz, (char *)buf + done, (unsigned)want);
    if (got < 0) {
      gz_error(r, err);
      return -1;
    }
    done += got;
    r->pos += got;
    if (got < want) {
      int code = Z_OK;
      gzerror(r->gz, &code);
      if (code != Z_OK) {
        gz_error(r, err);
        return -1;
      }
      break;
    }
  }
  return done;
}

/* Reads into a buffer of cap bytes that grows by doubling up to want, so
   memory tracks the data that actually arrives. */
static int read_growing(RtReader *r, int64_t want, int64_t cap, void **out,
                        int64_t *got, RtError *err) {
  int64_t have = 0;
  char *buf = malloc((size_t)cap);
  while (buf) {
    int64_t n = rt_reader_read(r, buf + have, cap - have, err);
    if (n < 0) {
      free(buf);
      return -1;
    }
    have += n;
    if (have == want) {
      *out = buf;
      return 1;
    }
    if (have < cap) {
      free(buf);
      *got = have;
      return 0;
    }
    cap = cap > want / 2 ? want : cap * 2;
    char *bigger = realloc(buf, (size_t)cap);
    if (!bigger) free(buf);
    buf = bigger;
  }
  rt_error_set(err, "%s: out of memory reading %lld bytes", r->path, (long long)want);
  return -1;
}

int rt_reader_read_payload(RtReader *r, int64_t want, void **out, int64_t *got,
                           RtError *err) {
  *out = NULL;
  *got = 0;
  if (want == 0) {
    *out = malloc(1);
    return *out ? 1 : -1;
  }
  if (r->is_gzip) return read_growing(r, want, want < FIRST_CAP ? want : FIRST_CAP, out, got, err);
  int64_t avail = r->file_size - r->pos;
  if (avail < want) {
    *got = avail < 0 ? 0 : avail;
    return 0;
  }
  return read_growing(r, want, want, out, got, err);   /* the file holds it all */
}

char *rt_reader_read_rest(RtReader *r, int64_t limit, int64_t *len, RtError *err) {
  int64_t cap = r->is_gzip ? FIRST_CAP : r->file_size - r->pos + 1, have = 0;
  if (cap < 1) cap = 1;
  if (cap > limit + 1) cap = limit + 1;
  char *buf = malloc((size_t)cap);
  while (buf) {
    int64_t n = rt_reader_read(r, buf + have, cap - 1 - have, err);
    if (n < 0) {
      free(buf);
      return NULL;
    }
    have += n;
    if (have < cap - 1) {
      buf[have] = '\0';
      *len = have;
      return buf;
    }
    if (have >= limit) {
      /* The buffer is full at the limit: fine only when nothing follows. */
      char probe;
      int64_t more = rt_reader_read(r, &probe, 1, err);
      if (more == 0) {
        buf[have] = '\0';
        *len = have;
        return buf;
      }
      free(buf);
      if (more > 0)
        rt_error_set(err, "%s: file is larger than the limit of %lld bytes",
                     r->path, (long long)limit);
      return NULL;
    }
    int64_t room = cap - 1 < 4096 ? 4096 : 2 * (cap - 1);
    cap = room > limit ? limit + 1 : room + 1;
    char *bigger = realloc(buf, (size_t)cap);
    if (!bigger) free(buf);
    buf = bigger;
  }
  rt_error_set(err, "%s: out of memory", r->path);
  return NULL;
}

int64_t rt_reader_count_rest(RtReader *r, RtError *err) {
  if (!r->is_gzip) return r->file_size > r->pos ? r->file_size - r->pos : 0;
  char tmp[1 << 14];
  int64_t total = 0;
  while (total < RT_COUNT_CAP) {
    int64_t n = rt_reader_read(r, tmp, (int64_t)sizeof tmp, err);
    if (n < 0) return -1;
    total += n;
    if (n < (int64_t)sizeof tmp) break;
  }
  return total;
}
