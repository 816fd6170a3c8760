/* mc_arena.c -- arenas, heap helpers, growable arrays and strings. */
#include "mc.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <string.h>

struct McArenaChunk {
  McArenaChunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

enum { CHUNK_MIN = 64 * 1024 };

_Noreturn void mc_assert_fail(const char *cond, const char *file, int line) {
  fprintf(stderr, "modelc: internal error: %s:%d: assertion '%s' failed\n", file, line, cond);
  abort();
}

/* The last resort: sizes are checked against mc_memory_limit before large
   allocations, so this is a small allocation failing. */
static _Noreturn void out_of_memory(size_t n) {
  fprintf(stderr, "modelc: error: out of memory (allocating %zu bytes)\n", n);
  exit(1);
}

/* A size such as "4G", "512M" or "1000000" (bytes); -1 when malformed. */
static int64_t parse_size(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  double scale = *end == 'K' || *end == 'k' ? 1024.0
                 : *end == 'M' || *end == 'm' ? 1048576.0
                 : *end == 'G' || *end == 'g' ? 1073741824.0
                 : *end == 'T' || *end == 't' ? 1099511627776.0
                                              : 1.0;
  if (scale > 1) end++;
  if (end == s || *end || errno || !(v > 0) || v * scale >= 9.2e18) return -1;
  return (int64_t)(v * scale);
}

/* The cgroup (v2) limit of this process's memory, or -1. */
static int64_t cgroup_limit(void) {
  FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
  char buf[64] = {0};
  bool ok = f && fgets(buf, sizeof buf, f);
  if (f) fclose(f);
  buf[strcspn(buf, "\n")] = 0;
  return ok && strcmp(buf, "max") != 0 ? parse_size(buf) : -1;
}

static int64_t lower(int64_t limit, int64_t v) { return v > 0 && v < limit ? v : limit; }

int64_t mc_memory_limit(void) {
  static int64_t cached;
  if (cached) return cached;
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  int64_t limit = pages > 0 && size > 0 ? (int64_t)pages * size : INT64_MAX;
  struct rlimit r;
  if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
    limit = lower(limit, (int64_t)r.rlim_cur);
  if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
    limit = lower(limit, (int64_t)r.rlim_cur);
  limit = lower(limit, cgroup_limit());
  const char *env = getenv("MODELC_MEMORY_LIMIT");
  if (env && *env) limit = lower(limit, parse_size(env));
  return cached = limit;
}

void mc_format_bytes(char *buf, size_t cap, int64_t n) {
  static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, u++;
  if (u == 0) snprintf(buf, cap, "%lld bytes", (long long)n);
  else snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void *mc_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) out_of_memory(n);
  return p;
}

void *mc_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) out_of_memory(n * size);
  return p;
}

void *mc_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) out_of_memory(n);
  return q;
}

char *mc_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(mc_xmalloc(n), s, n);
}

void mc_arena_init(McArena *a) { a->head = NULL; a->used_total = 0; }

void mc_arena_free(McArena *a) {
  McArenaChunk *c = a->head;
  while (c) {
    McArenaChunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->used_total = 0;
}

void *mc_arena_alloc(McArena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  McArenaChunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
    c = mc_xmalloc(sizeof *c + cap);
    c->used = 0;
    c->cap = cap;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  a->used_total += n;
  memset(p, 0, n);
  return p;
}

char *mc_arena_strndup(McArena *a, const char *s, size_t n) {
  char *p = mc_arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *mc_arena_strdup(McArena *a, const char *s) { return mc_arena_strndup(a, s, strlen(s)); }

char *mc_arena_printf(McArena *a, const char *fmt, ...) {
  McStr b;
  mc_str_init(&b);
  va_list ap;
  va_start(ap, fmt);
  mc_str_vprintf(&b, fmt, ap);
  va_end(ap);
  char *p = mc_arena_strndup(a, b.s, b.len);
  mc_str_free(&b);
  return p;
}

void mc_vec_init(McVec *v, size_t elem) {
  v->data = NULL;
  v->len = v->cap = 0;
  v->elem = elem;
}

void *mc_vec_push(McVec *v) {
  if (v->len == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 8;
    v->data = mc_xrealloc(v->data, v->cap * v->elem);
  }
  void *slot = (char *)v->data + v->len++ * v->elem;
  memset(slot, 0, v->elem);
  return slot;
}

void mc_vec_free(McVec *v) {
  free(v->data);
  v->data = NULL;
  v->len = v->cap = 0;
}

void mc_str_init(McStr *b) {
  b->s = mc_xmalloc(64);
  b->s[0] = 0;
  b->len = 0;
  b->cap = 64;
}

void mc_str_free(McStr *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

static void reserve(McStr *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  while (b->len + extra + 1 > b->cap) b->cap *= 2;
  b->s = mc_xrealloc(b->s, b->cap);
}

void mc_str_putc(McStr *b, char c) {
  reserve(b, 1);
  b->s[b->len++] = c;
  b->s[b->len] = 0;
}

void mc_str_puts(McStr *b, const char *s) {
  size_t n = strlen(s);
  reserve(b, n);
  memcpy(b->s + b->len, s, n + 1);
  b->len += n;
}

void mc_str_vprintf(McStr *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  size_t room = b->cap - b->len;
  int n = vsnprintf(b->s + b->len, room, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->s[b->len] = 0;
    return;
  }
  if ((size_t)n >= room) {
    reserve(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
}

void mc_str_printf(McStr *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mc_str_vprintf(b, fmt, ap);
  va_end(ap);
}

char *mc_read_file(const char *path, size_t *len, const char **err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *err = strerror(errno);
    return NULL;
  }
  McStr b;
  mc_str_init(&b);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    reserve(&b, n);
    memcpy(b.s + b.len, chunk, n);
    b.len += n;
    b.s[b.len] = 0;
  }
  bool failed = ferror(f);
  int saved = errno;
  fclose(f);
  if (failed) {
    mc_str_free(&b);
    *err = strerror(saved ? saved : EIO);
    return NULL;
  }
  if (len) *len = b.len;
  return b.s;
}

int mc_edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return 1000;
  int row[65];
  for (size_t j = 0; j <= m; j++) row[j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= m; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}
