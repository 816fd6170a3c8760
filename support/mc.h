/* mc.h -- support layer: arenas, growable arrays, string interning and
   diagnostics. Every other layer builds on this one; it depends on libc only. */
#ifndef MC_H
#define MC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MC_ASSERT(c) ((c) ? (void)0 : mc_assert_fail(#c, __FILE__, __LINE__))
#define MC_UNREACHABLE() mc_assert_fail("unreachable", __FILE__, __LINE__)
#define MC_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void mc_assert_fail(const char *cond, const char *file, int line);

/* ---- mc_arena.c ---------------------------------------------------------
   An arena owns every allocation made from it; mc_arena_free drops them all
   at once. Lifetimes are named by the object that owns the arena (a graph, a
   parse, a REPL line). Allocations are zeroed. Out of memory aborts: it is
   not a user error. */
typedef struct McArenaChunk McArenaChunk;
typedef struct McArena {
  McArenaChunk *head;   /* newest chunk first */
  size_t used_total;    /* bytes handed out, for statistics */
} McArena;

void mc_arena_init(McArena *a);
void mc_arena_free(McArena *a);
void *mc_arena_alloc(McArena *a, size_t n);
char *mc_arena_strdup(McArena *a, const char *s);
char *mc_arena_strndup(McArena *a, const char *s, size_t n);
char *mc_arena_printf(McArena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Heap helpers that abort on out-of-memory instead of returning NULL. */
void *mc_xmalloc(size_t n);
void *mc_xcalloc(size_t n, size_t size);
void *mc_xrealloc(void *p, size_t n);
char *mc_xstrdup(const char *s);

/* A growable array of fixed-size elements on the heap (owned by the caller:
   mc_vec_free releases it). */
typedef struct McVec {
  void *data;
  size_t len, cap, elem;
} McVec;

void mc_vec_init(McVec *v, size_t elem);
void *mc_vec_push(McVec *v);          /* returns the new zeroed slot */
void mc_vec_free(McVec *v);
#define MC_VEC_AT(v, T, i) (((T *)(v)->data)[i])

/* A growable string buffer (heap). */
typedef struct McStr {
  char *s;
  size_t len, cap;
} McStr;
void mc_str_init(McStr *b);
void mc_str_free(McStr *b);
void mc_str_putc(McStr *b, char c);
void mc_str_puts(McStr *b, const char *s);
void mc_str_printf(McStr *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mc_str_vprintf(McStr *b, const char *fmt, va_list ap);

/* Reads a whole file into a heap buffer (NUL-terminated). Returns NULL and
   sets *err to a static description (strerror) when it cannot. */
char *mc_read_file(const char *path, size_t *len, const char **err);
/* The bytes this process may hold: physical memory, or less under a
   RLIMIT_AS or RLIMIT_DATA limit, a cgroup's memory.max or the environment
   variable MODELC_MEMORY_LIMIT ("4G", "512M", bytes). Large allocations are
   checked against it first, so that too large a model is an error, not an
   OOM kill. */
int64_t mc_memory_limit(void);
/* "12.3 GiB". */
void mc_format_bytes(char *buf, size_t cap, int64_t n);

/* Levenshtein distance, for "did you mean" suggestions. */
int mc_edit_distance(const char *a, const char *b);

/* ---- mc_diag.c ----------------------------------------------------------
   Source locations and the diagnostics sink. A source manager keeps the text
   of every file it was given so that a diagnostic can print the line and a
   caret. Library code never prints or exits: it reports into an McDiag and
   returns false / an error value. */
typedef struct McLoc {
  uint32_t file;   /* index into McSources; 0 = no location */
  uint32_t line;   /* 1-based; 0 = unknown */
  uint32_t col;    /* 1-based, in bytes */
  uint32_t len;    /* length of the range under the caret (>= 1 when known) */
} McLoc;

typedef struct McSources {
  McVec files;     /* of McSourceFile */
} McSources;

typedef struct McSourceFile {
  char *name;      /* path as given by the user (heap) */
  char *text;      /* whole contents (heap), NULL if unknown */
  size_t len;
  uint32_t first_line; /* the line number of text's first line (1 for a file;
                          a REPL line is line N of the session or script) */
} McSourceFile;

void mc_sources_init(McSources *s);
void mc_sources_free(McSources *s);
/* Adds a file and returns its id (>= 1). text is copied; may be NULL. */
uint32_t mc_sources_add(McSources *s, const char *name, const char *text, size_t len);
/* Same, for text that is a piece of a longer input starting at line
   first_line of it: locations in text count lines from 1, diagnostics show
   them as lines of the whole input. */
uint32_t mc_sources_add_at(McSources *s, const char *name, const char *text, size_t len,
                           uint32_t first_line);
const McSourceFile *mc_sources_get(const McSources *s, uint32_t file);

typedef enum { MC_DIAG_ERROR, MC_DIAG_WARNING, MC_DIAG_NOTE } McDiagKind;

typedef struct McDiag {
  const McSources *src; /* for file names and source lines (may be NULL) */
  FILE *out;            /* where messages go as they are reported; NULL = only buffer */
  McStr buf;            /* every message ever reported, formatted (tests read this) */
  int nerrors, nwarnings;
  int max_errors;       /* stop reporting after this many errors (0 = no limit) */
} McDiag;

void mc_diag_init(McDiag *d, const McSources *src, FILE *out);
void mc_diag_fini(McDiag *d);
/* Formats one diagnostic:
     file:line:col: error: message
       <source line>
       ^~~~
   Without a location: "modelc: error: message". */
void mc_diag_report(McDiag *d, McDiagKind kind, McLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mc_diag_vreport(McDiag *d, McDiagKind kind, McLoc loc, const char *fmt, va_list ap);
#define mc_error(d, loc, ...) mc_diag_report((d), MC_DIAG_ERROR, (loc), __VA_ARGS__)
#define mc_note(d, loc, ...) mc_diag_report((d), MC_DIAG_NOTE, (loc), __VA_ARGS__)
/* Errors about a data file rather than model code: "path: error: message". */
void mc_diag_file_error(McDiag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool mc_diag_has_errors(const McDiag *d);

/* ---- mc_rng.c -----------------------------------------------------------
   A counter-based generator: the value at (seed, stream, index) does not
   depend on the order or thread in which values are drawn. */
uint64_t mc_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
double mc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);  /* [0,1) */
double mc_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);   /* N(0,1) */
uint64_t mc_hash_str(const char *s);  /* FNV-1a, to derive a stream from a name */

#endif
