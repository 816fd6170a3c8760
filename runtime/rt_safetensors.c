/* rt_safetensors.c -- checkpoints in the safetensors format: an 8-byte
   little-endian header length, a JSON header padded with spaces to a
   multiple of 8, then the tensors' raw little-endian bytes. Writing matches
   the Python library byte for byte (tensors by descending dtype alignment,
   then name; metadata first, keys sorted) and replaces the file atomically.
   Reading runs a small strict JSON parser and validates every offset. */
#include "rt_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER ((int64_t)100000000)   /* the Python library's limit */

/* ---- dtypes ------------------------------------------------------------------ */

static const char *st_dtype_name(int dtype) {
  switch (dtype) {
  case RT_U8: return "U8";
  case RT_I32: return "I32";
  case RT_I64: return "I64";
  case RT_F32: return "F32";
  case RT_F64: return "F64";
  }
  return NULL;
}

static int st_dtype_parse(const char *s) {
  static const int all[] = {RT_U8, RT_I32, RT_I64, RT_F32, RT_F64};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!strcmp(s, st_dtype_name(all[i]))) return all[i];
  return -1;
}

/* Position in the safetensors Dtype enum (BOOL, U8, I8, ..., I32, U32, F32,
   F64, I64, U64): tensors are laid out by this, descending. */
static int st_dtype_rank(int dtype) {
  switch (dtype) {
  case RT_U8: return 1;
  case RT_I32: return 9;
  case RT_F32: return 11;
  case RT_F64: return 12;
  case RT_I64: return 13;
  }
  return 0;
}

/* Whether s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
static bool utf8_valid(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
               : (c & 0xf8) == 0xf0 ? 3 : 9;
    if (k == 9 || i + k >= n) return false;
    uint32_t cp = k == 0 ? c : c & (0x3f >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += k + 1;
  }
  return true;
}

/* ---- writing ----------------------------------------------------------------- */

typedef struct Buf {
  char *s;
  size_t len, cap;
  bool oom;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *s2 = realloc(b->s, cap);
    if (!s2) {
      b->oom = true;
      return;
    }
    b->s = s2;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_int(Buf *b, int64_t v) {
  char tmp[24];
  put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v));
}

/* A JSON string escaped as serde_json does. */
static void put_json_string(Buf *b, const char *s) {
  put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f" : NULL;
    char tmp[8];
    if (esc) puts_(b, esc);
    else if (c < 0x20) put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c));
    else put(b, (const char *)&c, 1);
  }
  put(b, "\"", 1);
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const RtTensorRef *const *)a)->name, (*(const RtTensorRef *const *)b)->name);
}

static int by_layout(const void *a, const void *b) {
  const RtTensorRef *x = *(const RtTensorRef *const *)a, *y = *(const RtTensorRef *const *)b;
  int rx = st_dtype_rank(x->dtype), ry = st_dtype_rank(y->dtype);
  return rx != ry ? (ry > rx ? 1 : -1) : strcmp(x->name, y->name);
}

static int by_key(const void *a, const void *b) {
  return strcmp(((const RtMeta *)a)->key, ((const RtMeta *)b)->key);
}

/* Byte size of t, or -1 when its description is invalid (err set). */
static int64_t tensor_bytes(const char *path, const RtTensorRef *t, RtError *err) {
  int64_t n = 1;
  if (!t->name || !*t->name || !strcmp(t->name, "__metadata__") ||
      !utf8_valid((const unsigned char *)t->name, strlen(t->name))) {
    rt_error_set(err, "%s: bad tensor name '%s' (empty, reserved or not UTF-8)", path,
                 t->name ? t->name : "(null)");
    return -1;
  }
  if (!st_dtype_name(t->dtype) || t->rank < 0 || t->rank > RT_MAX_RANK) {
    rt_error_set(err, "%s: tensor '%s': bad dtype or rank", path, t->name);
    return -1;
  }
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0 || !rt_mul_ok(n, t->dims[i], &n)) n = -1;
  if (n < 0 || !rt_mul_ok(n, (int64_t)rt_dtype_size(t->dtype), &n) ||
      (n > 0 && !t->data)) {
    rt_error_set(err, "%s: tensor '%s': bad shape or no data", path, t->name);
    return -1;
  }
  return n;
}

/* The padded JSON header for the tensors in layout order. */
static bool build_header(const char *path, const RtTensorRef *const *order, size_t n,
                         const RtMeta *meta, size_t nmeta, Buf *b, RtError *err) {
  int64_t offset = 0;
  put(b, "{", 1);
  if (nmeta) {
    puts_(b, "\"__metadata__\":{");
    for (size_t i = 0; i < nmeta; i++) {
      if (i) put(b, ",", 1);
      put_json_string(b, meta[i].key);
      put(b, ":", 1);
      put_json_string(b, meta[i].value);
    }
    puts_(b, n ? "}," : "}");
  }
  for (size_t k = 0; k < n; k++) {
    const RtTensorRef *x = order[k];
    int64_t bytes = tensor_bytes(path, x, err);
    if (bytes < 0) return false;
    if (k) put(b, ",", 1);
    put_json_string(b, x->name);
    puts_(b, ":{\"dtype\":\"");
    puts_(b, st_dtype_name(x->dtype));
    puts_(b, "\",\"shape\":[");
    for (int i = 0; i < x->rank; i++) {
      if (i) put(b, ",", 1);
      put_int(b, x->dims[i]);
    }
    puts_(b, "],\"data_offsets\":[");
    put_int(b, offset);
    put(b, ",", 1);
    put_int(b, offset += bytes);
    puts_(b, "]}");
  }
  put(b, "}", 1);
  while (b->len % 8) put(b, " ", 1);
  if (b->oom) rt_error_set(err, "%s: out of memory", path);
  return !b->oom;
}

/* Checks names and metadata keys for duplicates and bad text, then sorts
   order into the file layout and meta by key. */
static bool check_names(const char *path, const RtTensorRef **order, size_t n,
                        RtMeta *meta, size_t nmeta, RtError *err) {
  for (size_t i = 0; i < n; i++)
    if (tensor_bytes(path, order[i], err) < 0) return false;
  for (size_t i = 0; i < nmeta; i++)
    if (!meta[i].key || !meta[i].value ||
        !utf8_valid((const unsigned char *)meta[i].key, strlen(meta[i].key)) ||
        !utf8_valid((const unsigned char *)meta[i].value, strlen(meta[i].value))) {
      rt_error_set(err, "%s: metadata entry %zu is missing or not UTF-8", path, i);
      return false;
    }
  qsort(meta, nmeta, sizeof *meta, by_key);
  for (size_t i = 1; i < nmeta; i++)
    if (!strcmp(meta[i - 1].key, meta[i].key)) {
      rt_error_set(err, "%s: duplicate metadata key '%s'", path, meta[i].key);
      return false;
    }
  qsort(order, n, sizeof *order, by_name);
  for (size_t i = 1; i < n; i++)
    if (!strcmp(order[i - 1]->name, order[i]->name)) {
      rt_error_set(err, "%s: duplicate tensor name '%s'", path, order[i]->name);
      return false;
    }
  qsort(order, n, sizeof *order, by_layout);
  return true;
}

/* Writes count elements of size bytes little-endian. */
static bool write_le(FILE *f, const void *data, int64_t bytes, size_t size) {
  if (rt_host_is_little() || size == 1)
    return bytes == 0 || fwrite(data, 1, (size_t)bytes, f) == (size_t)bytes;
  unsigned char tmp[1 << 16];
  for (int64_t done = 0; done < bytes;) {
    int64_t n = bytes - done < (int64_t)sizeof tmp ? bytes - done : (int64_t)sizeof tmp;
    memcpy(tmp, (const unsigned char *)data + done, (size_t)n);
    rt_swap_bytes(tmp, n / (int64_t)size, size);
    if (fwrite(tmp, 1, (size_t)n, f) != (size_t)n) return false;
    done += n;
  }
  return true;
}

/* Writes the whole file to f and flushes it to disk. */
static bool write_file(FILE *f, const Buf *header, const RtTensorRef *const *order,
                       size_t n) {
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)header->len >> (8 * i));
  bool ok = fwrite(len, 1, 8, f) == 8 &&
            fwrite(header->s, 1, header->len, f) == header->len;
  for (size_t k = 0; ok && k < n; k++) {
    const RtTensorRef *x = order[k];
    int64_t bytes = (int64_t)rt_dtype_size(x->dtype);
    for (int i = 0; i < x->rank; i++) bytes *= x->dims[i];
    ok = write_le(f, x->data, bytes, rt_dtype_size(x->dtype));
  }
  return ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
}

/* Makes the rename durable; best effort. */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) strcpy(dir, ".");
  else if ((size_t)(slash - path) < sizeof dir) {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash == path ? 1 : slash - path] = '\0';
  } else return;
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* Writes to a temporary file beside path and renames it over path. */
static bool write_atomically(const char *path, const Buf *header,
                             const RtTensorRef *const *order, size_t n, RtError *err) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) {
    rt_error_set(err, "%s: out of memory", path);
    return false;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rt_error_set(err, "%s: cannot create a temporary file beside it: %s", path,
                 strerror(errno));
    free(tmp);
    return false;
  }
  fchmod(fd, 0644);
  FILE *f = fdopen(fd, "wb");
  if (!f) close(fd);
  bool ok = f && write_file(f, header, order, n);
  int saved = errno;
  if (f && fclose(f) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp);
    rt_error_set(err, "%s: cannot write: %s", path, strerror(saved));
  } else {
    sync_parent_dir(path);
  }
  free(tmp);
  return ok;
}

bool rt_safetensors_save(const char *path, const RtTensorRef *tensors, size_t ntensors,
                         const RtMeta *meta, size_t nmeta, RtError *err) {
  if ((ntensors && !tensors) || (nmeta && !meta)) {
    rt_error_set(err, "%s: no tensors or metadata given", path);
    return false;
  }
  const RtTensorRef **order = malloc((ntensors + 1) * sizeof *order);
  RtMeta *sorted = malloc((nmeta + 1) * sizeof *sorted);
  Buf header = {0};
  bool ok = order && sorted;
  if (!ok) rt_error_set(err, "%s: out of memory", path);
  for (size_t i = 0; ok && i < ntensors; i++) order[i] = &tensors[i];
  if (ok && nmeta) memcpy(sorted, meta, nmeta * sizeof *meta);
  ok = ok && check_names(path, order, ntensors, sorted, nmeta, err) &&
       build_header(path, order, ntensors, sorted, nmeta, &header, err) &&
       write_atomically(path, &header, order, ntensors, err);
  free(header.s);
  free(sorted);
  free(order);
  return ok;
}

/* ---- reading: a strict JSON parser for the header ------------------------------ */

typedef struct Json {
  const char *s, *p, *end;   /* the header text */
  char *out;                 /* decoded strings go here (never longer than raw) */
  const char *path;
  RtError *err;
} Json;

/* One tensor as the header describes it. */
typedef struct Entry {
  char *name;
  int dtype, rank;
  int64_t dims[RT_MAX_RANK];
  int64_t begin, end;
} Entry;

static bool jfail(Json *j, const char *what) {
  rt_error_set(j->err, "%s: bad safetensors header: %s at byte %lld", j->path, what,
               (long long)(8 + (j->p - j->s)));
  return false;
}

static void jspace(Json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static bool jpeek(Json *j, char c) {
  jspace(j);
  return j->p < j->end && *j->p == c;
}

static bool jexpect(Json *j, char c) {
  if (!jpeek(j, c)) {
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return jfail(j, msg);
  }
  j->p++;
  return true;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

static void put_utf8(char **o, uint32_t cp) {
  unsigned char *u = (unsigned char *)*o;
  if (cp < 0x80) *u++ = (unsigned char)cp;
  else if (cp < 0x800) {
    *u++ = (unsigned char)(0xc0 | cp >> 6);
    *u++ = (unsigned char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *u++ = (unsigned char)(0xe0 | cp >> 12);
    *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    *u++ = (unsigned char)(0x80 | (cp & 0x3f));
  } else {
    *u++ = (unsigned char)(0xf0 | cp >> 18);
    *u++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    *u++ = (unsigned char)(0x80 | (cp & 0x3f));
  }
  *o = (char *)u;
}

/* A \u escape (p at the 'u'), a surrogate pair counting as one. */
static bool junicode(Json *j, char **o) {
  int hi = j->end - j->p >= 5 ? hex4(j->p + 1) : -1;
  if (hi < 0) return jfail(j, "bad \\u escape");
  j->p += 5;
  uint32_t cp = (uint32_t)hi;
  if (hi >= 0xdc00 && hi <= 0xdfff) return jfail(j, "lone low surrogate");
  if (hi >= 0xd800 && hi <= 0xdbff) {
    int lo = j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) return jfail(j, "lone high surrogate");
    j->p += 6;
    cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
  }
  if (cp == 0) return jfail(j, "NUL character in a string");
  put_utf8(o, cp);
  return true;
}

/* A JSON string, decoded into j->out; *s = the decoded text. */
static bool jstring(Json *j, char **s) {
  if (!jexpect(j, '"')) return false;
  char *o = j->out;
  *s = o;
  while (j->p < j->end && *j->p != '"') {
    unsigned char c = (unsigned char)*j->p;
    if (c < 0x20) return jfail(j, "control character in a string");
    if (c != '\\') {
      *o++ = (char)c;
      j->p++;
      continue;
    }
    if (++j->p == j->end) break;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *hit = strchr(from, *j->p);
    if (*j->p == 'u') {
      if (!junicode(j, &o)) return false;
    } else if (hit && *j->p) {
      *o++ = to[hit - from];
      j->p++;
    } else {
      return jfail(j, "bad escape in a string");
    }
  }
  if (j->p == j->end) return jfail(j, "unterminated string");
  j->p++;
  *o++ = '\0';
  j->out = o;
  return true;
}

/* A non-negative JSON integer (no sign, fraction or exponent). */
static bool juint(Json *j, int64_t *v) {
  jspace(j);
  const char *start = j->p;
  *v = 0;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (*v > (INT64_MAX - 9) / 10) return jfail(j, "integer too large");
    *v = *v * 10 + (*j->p++ - '0');
  }
  if (j->p == start) return jfail(j, "expected a non-negative integer");
  if (j->p - start > 1 && *start == '0') return jfail(j, "leading zero in an integer");
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
    return jfail(j, "expected an integer");
  return true;
}

/* [u, u, ...] with at most max entries; *n = how many. */
static bool juint_array(Json *j, int64_t *vals, int max, int *n, const char *what) {
  *n = 0;
  if (!jexpect(j, '[')) return false;
  if (jpeek(j, ']')) return j->p++, true;
  do {
    if (*n == max) return jfail(j, what);
    if (!juint(j, &vals[(*n)++])) return false;
  } while (jpeek(j, ',') && j->p++);
  return jexpect(j, ']');
}

static void jdigits(Json *j) {
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
}

static bool jis_digit(Json *j) { return j->p < j->end && *j->p >= '0' && *j->p <= '9'; }

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool jskip_number(Json *j) {
  if (j->p < j->end && *j->p == '-') j->p++;
  if (!jis_digit(j)) return jfail(j, "expected a value");
  if (*j->p++ != '0') jdigits(j);
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (!jis_digit(j)) return jfail(j, "bad number");
    jdigits(j);
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (!jis_digit(j)) return jfail(j, "bad number");
    jdigits(j);
  }
  return true;
}

/* Skips any JSON value (for keys this reader does not use). */
static bool jskip(Json *j, int depth) {
  char *scratch;
  if (depth > 64) return jfail(j, "nesting too deep");
  jspace(j);
  if (j->p == j->end) return jfail(j, "expected a value");
  char c = *j->p;
  if (c == '"') {
    char *keep = j->out;
    bool ok = jstring(j, &scratch);
    j->out = keep;
    return ok;
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->p++;
    if (jpeek(j, close)) return j->p++, true;
    do {
      if (c == '{') {
        char *keep = j->out;
        bool ok = jstring(j, &scratch) && jexpect(j, ':');
        j->out = keep;
        if (!ok) return false;
      }
      if (!jskip(j, depth + 1)) return false;
    } while (jpeek(j, ',') && j->p++);
    return jexpect(j, close);
  }
  static const char *const words[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if ((size_t)(j->end - j->p) >= n && !strncmp(j->p, words[i], n)) return j->p += n, true;
  }
  return jskip_number(j);
}

/* ---- reading: the header's schema ---------------------------------------------- */

typedef struct Header {
  Entry *entries;
  size_t n, cap;
  RtMeta *meta;
  size_t nmeta, metacap;
} Header;

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t cap2 = *cap ? *cap * 2 : 16;
  void *p = realloc(*arr, cap2 * elem);
  if (!p) return false;
  *arr = p;
  *cap = cap2;
  return true;
}

/* "__metadata__": null or {"key": "value", ...}. */
static bool parse_meta(Json *j, Header *h) {
  jspace(j);
  if ((size_t)(j->end - j->p) >= 4 && !strncmp(j->p, "null", 4)) return j->p += 4, true;
  if (!jexpect(j, '{')) return false;
  if (jpeek(j, '}')) return j->p++, true;
  do {
    if (!grow((void **)&h->meta, &h->metacap, h->nmeta + 1, sizeof *h->meta))
      return jfail(j, "out of memory");
    RtMeta *m = &h->meta[h->nmeta++];
    char *k, *v;
    if (!jstring(j, &k) || !jexpect(j, ':')) return false;
    if (!jpeek(j, '"')) return jfail(j, "metadata values must be strings");
    if (!jstring(j, &v)) return false;
    m->key = k;
    m->value = v;
  } while (jpeek(j, ',') && j->p++);
  return jexpect(j, '}');
}

/* {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}; other keys are
   skipped, as the Python library does. */
static bool parse_entry(Json *j, Entry *e) {
  bool seen[3] = {false, false, false};
  e->dtype = -1;
  if (!jexpect(j, '{')) return false;
  if (!jpeek(j, '}')) do {
    char *key, *keep = j->out;
    if (!jstring(j, &key) || !jexpect(j, ':')) return false;
    int which = !strcmp(key, "dtype") ? 0 : !strcmp(key, "shape") ? 1
                : !strcmp(key, "data_offsets") ? 2 : -1;
    j->out = keep;
    if (which >= 0 && seen[which]) return jfail(j, "duplicate key in a tensor entry");
    if (which >= 0) seen[which] = true;
    if (which == 0) {
      char *dt;
      if (!jstring(j, &dt)) return false;
      e->dtype = st_dtype_parse(dt);
      if (e->dtype < 0) {
        rt_error_set(j->err, "%s: tensor '%s': dtype '%s' is not supported (F32, F64, "
                             "I32, I64, U8)", j->path, e->name, dt);
        return false;
      }
      j->out = keep;
    } else if (which == 1) {
      if (!juint_array(j, e->dims, RT_MAX_RANK, &e->rank, "shape has more than 8 dimensions"))
        return false;
    } else if (which == 2) {
      int64_t off[3];
      int n;
      if (!juint_array(j, off, 3, &n, "data_offsets must hold 2 integers")) return false;
      if (n != 2) return jfail(j, "data_offsets must hold 2 integers");
      e->begin = off[0];
      e->end = off[1];
    } else if (!jskip(j, 0)) {
      return false;
    }
  } while (jpeek(j, ',') && j->p++);
  if (!jexpect(j, '}')) return false;
  if (!seen[0] || !seen[1] || !seen[2]) {
    rt_error_set(j->err, "%s: tensor '%s': entry lacks dtype, shape or data_offsets",
                 j->path, e->name);
    return false;
  }
  return true;
}

/* The top-level object, then nothing but whitespace. */
static bool parse_header(Json *j, Header *h) {
  bool had_meta = false;
  if (!jexpect(j, '{')) return false;
  if (!jpeek(j, '}')) do {
    char *name;
    if (!jstring(j, &name) || !jexpect(j, ':')) return false;
    if (!strcmp(name, "__metadata__")) {
      if (had_meta) return jfail(j, "duplicate __metadata__");
      had_meta = true;
      if (!parse_meta(j, h)) return false;
      continue;
    }
    if (!grow((void **)&h->entries, &h->cap, h->n + 1, sizeof *h->entries))
      return jfail(j, "out of memory");
    Entry *e = &h->entries[h->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    if (!parse_entry(j, e)) return false;
  } while (jpeek(j, ',') && j->p++);
  if (!jexpect(j, '}')) return false;
  jspace(j);
  return j->p == j->end || jfail(j, "unexpected text after the header object");
}

/* ---- reading: checks and the loaded checkpoint --------------------------------- */

static int entry_by_name(const void *a, const void *b) {
  return strcmp((*(const Entry *const *)a)->name, (*(const Entry *const *)b)->name);
}

static int entry_by_offset(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static bool check_unique(const char *path, Header *h, RtError *err) {
  const Entry **byname = malloc((h->n + 1) * sizeof *byname);
  if (!byname) {
    rt_error_set(err, "%s: out of memory", path);
    return false;
  }
  for (size_t i = 0; i < h->n; i++) byname[i] = &h->entries[i];
  qsort(byname, h->n, sizeof *byname, entry_by_name);
  for (size_t i = 1; i < h->n; i++)
    if (!strcmp(byname[i - 1]->name, byname[i]->name)) {
      rt_error_set(err, "%s: duplicate tensor name '%s'", path, byname[i]->name);
      free(byname);
      return false;
    }
  free(byname);
  if (h->nmeta > 1) qsort(h->meta, h->nmeta, sizeof *h->meta, by_key);
  for (size_t i = 1; i < h->nmeta; i++)
    if (!strcmp(h->meta[i - 1].key, h->meta[i].key)) {
      rt_error_set(err, "%s: duplicate metadata key '%s'", path, h->meta[i].key);
      return false;
    }
  return true;
}

/* Offsets: sorted, they must tile [0, data_len) exactly, each span holding
   numel * size bytes at an offset aligned to the element size. */
static bool check_offsets(const char *path, Header *h, int64_t data_len, RtError *err) {
  if (h->n > 1) qsort(h->entries, h->n, sizeof *h->entries, entry_by_offset);
  int64_t at = 0;
  for (size_t i = 0; i < h->n; i++) {
    const Entry *e = &h->entries[i];
    int64_t bytes = (int64_t)rt_dtype_size(e->dtype);
    char shape[200];
    rt_dims_format(shape, sizeof shape, e->rank, e->dims);
    for (int k = 0; k < e->rank; k++)
      if (!rt_mul_ok(bytes, e->dims[k], &bytes)) bytes = -1;
    if (e->end < e->begin || e->end > data_len) {
      rt_error_set(err, "%s: tensor '%s': data_offsets [%lld, %lld] are out of range "
                        "(the data section has %lld bytes)", path, e->name,
                   (long long)e->begin, (long long)e->end, (long long)data_len);
      return false;
    }
    if (e->begin != at) {
      rt_error_set(err, "%s: tensor '%s': data_offsets [%lld, %lld] do not start where "
                        "the previous tensor ends (%lld)", path, e->name,
                   (long long)e->begin, (long long)e->end, (long long)at);
      return false;
    }
    if (bytes < 0 || e->end - e->begin != bytes) {
      rt_error_set(err, "%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, "
                        "shape %s of %s needs %s%lld", path, e->name, (long long)e->begin,
                   (long long)e->end, (long long)(e->end - e->begin), shape,
                   st_dtype_name(e->dtype), bytes < 0 ? "more than " : "",
                   bytes < 0 ? (long long)INT64_MAX : (long long)bytes);
      return false;
    }
    if (e->begin % (int64_t)rt_dtype_size(e->dtype)) {
      rt_error_set(err, "%s: tensor '%s': data offset %lld is not a multiple of its "
                        "element size", path, e->name, (long long)e->begin);
      return false;
    }
    at = e->end;
  }
  if (at != data_len) {
    rt_error_set(err, "%s: the tensors cover %lld bytes but the data section has %lld",
                 path, (long long)at, (long long)data_len);
    return false;
  }
  return true;
}

/* Reads the 8-byte length and the header text; *data_len = what follows. */
static char *read_header_text(FILE *f, const char *path, int64_t *hlen,
                              int64_t *data_len, RtError *err) {
  struct stat st;
  unsigned char len[8];
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rt_error_set(err, "%s: not a regular file", path);
    return NULL;
  }
  if (st.st_size < 8 || fread(len, 1, 8, f) != 8) {
    rt_error_set(err, "%s: too short for a safetensors file (%lld bytes)", path,
                 (long long)st.st_size);
    return NULL;
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | len[i];
  if (n > (uint64_t)MAX_HEADER || (int64_t)n > (int64_t)st.st_size - 8 || n < 2) {
    rt_error_set(err, "%s: header length %llu is impossible (file has %lld bytes, "
                      "limit %lld)", path, (unsigned long long)n, (long long)st.st_size,
                 (long long)MAX_HEADER);
    return NULL;
  }
  char *text = malloc((size_t)n + 1);
  if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
    rt_error_set(err, "%s: cannot read the %llu-byte header", path, (unsigned long long)n);
    free(text);
    return NULL;
  }
  text[n] = '\0';
  *hlen = (int64_t)n;
  *data_len = (int64_t)st.st_size - 8 - (int64_t)n;
  if (!utf8_valid((unsigned char *)text, (size_t)n)) {
    rt_error_set(err, "%s: header is not valid UTF-8", path);
    free(text);
    return NULL;
  }
  return text;
}

/* Builds the checkpoint from a validated header and the data bytes. */
static RtCheckpoint *make_checkpoint(Header *h, char *blob, void *data) {
  RtCheckpoint *c = calloc(1, sizeof *c);
  RtTensorRef *t = calloc(h->n + 1, sizeof *t);
  if (!c || !t) {
    free(c);
    free(t);
    return NULL;
  }
  for (size_t i = 0; i < h->n; i++) {
    const Entry *e = &h->entries[i];
    t[i] = (RtTensorRef){e->name, e->dtype, e->rank, {0}, (char *)data + e->begin};
    memcpy(t[i].dims, e->dims, sizeof e->dims);
    if (!rt_host_is_little())
      rt_swap_bytes((char *)data + e->begin, (e->end - e->begin) /
                    (int64_t)rt_dtype_size(e->dtype), rt_dtype_size(e->dtype));
  }
  c->tensors = t;
  c->ntensors = h->n;
  c->meta = h->meta;
  c->nmeta = h->nmeta;
  h->meta = NULL;
  c->blob = blob;
  c->data = data;
  return c;
}

/* Parses and checks the header, then reads the data. */
static RtCheckpoint *load_file(FILE *f, const char *path, RtError *err) {
  int64_t hlen, data_len;
  char *text = read_header_text(f, path, &hlen, &data_len, err);
  if (!text) return NULL;
  char *blob = malloc((size_t)hlen + 1);
  Header h = {0};
  Json j = {text, text, text + hlen, blob, path, err};
  bool ok = blob && parse_header(&j, &h) && check_unique(path, &h, err) &&
            check_offsets(path, &h, data_len, err);
  if (!blob) rt_error_set(err, "%s: out of memory", path);
  void *data = ok ? malloc(data_len ? (size_t)data_len : 1) : NULL;
  if (ok && (!data || fread(data, 1, (size_t)data_len, f) != (size_t)data_len)) {
    rt_error_set(err, "%s: cannot read %lld bytes of tensor data", path, (long long)data_len);
    ok = false;
  }
  RtCheckpoint *c = ok ? make_checkpoint(&h, blob, data) : NULL;
  if (ok && !c) rt_error_set(err, "%s: out of memory", path);
  if (!c) {
    free(data);
    free(blob);
  }
  free(h.entries);
  free(h.meta);
  free(text);
  return c;
}

RtCheckpoint *rt_safetensors_load(const char *path, RtError *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    rt_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  RtCheckpoint *c = load_file(f, path, err);
  fclose(f);
  return c;
}

void rt_checkpoint_free(RtCheckpoint *c) {
  if (!c) return;
  free(c->tensors);
  free(c->meta);
  free(c->blob);
  free(c->data);
  free(c);
}

const RtTensorRef *rt_checkpoint_find(const RtCheckpoint *c, const char *name) {
  for (size_t i = 0; i < c->ntensors; i++)
    if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
  return NULL;
}

const char *rt_checkpoint_meta(const RtCheckpoint *c, const char *key) {
  for (size_t i = 0; i < c->nmeta; i++)
    if (!strcmp(c->meta[i].key, key)) return c->meta[i].value;
  return NULL;
}
