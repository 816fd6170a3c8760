/* mc_arena.c -- arenas, heap helpers, growable arrays and strings. */
#include "mc.h"

#include <errno.h>
#include <stdlib.h>
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

static _Noreturn void out_of_memory(size_t n) {
  fprintf(stderr, "modelc: out of memory (allocating %zu bytes)\n", n);
  abort();
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
