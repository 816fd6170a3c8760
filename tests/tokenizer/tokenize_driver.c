/* tokenize_driver.c -- runs the runtime's WordPiece tokenizer over the lines
   of a text file for run_reference.py, which compares its output with
   wordpiece_ref.py's.

     tokenize_driver VOCAB TEXT [--cased] [--max-len N]

   prints one line per line of TEXT (split on '\n'; a final newline ends the
   last line): the ids space-separated, or with --max-len the BERT row as
   "ids | mask | truncated (0 or 1)". Exit status 2 on a usage or file
   error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap), *grown;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0)
    if ((n += got) == cap) {
      grown = realloc(buf, cap *= 2);
      if (!grown) free(buf);
      buf = grown;
    }
  fclose(f);
  *len = n;
  return buf;
}

static void print_ids(const int32_t *ids, int64_t n) {
  for (int64_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
}

/* The ids of one line; checks on the way that the count does not depend
   on the room given. */
static bool print_pieces(const RtVocab *v, const char *s, size_t len, bool lower) {
  int32_t two[2];
  int64_t n = rt_wordpiece_ids(v, s, len, lower, two, 2);
  int32_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
  if (!ids || rt_wordpiece_ids(v, s, len, lower, ids, n) != n ||
      (n > 0 && ids[0] != two[0]) || (n > 1 && ids[1] != two[1])) {
    fprintf(stderr, "tokenize_driver: the id count depends on the room given\n");
    free(ids);
    return false;
  }
  print_ids(ids, n);
  free(ids);
  return true;
}

static bool print_row(const RtVocab *v, const char *s, size_t len, bool lower,
                      int64_t max_len) {
  int32_t *buf = malloc((size_t)max_len * 3 * sizeof *buf);
  if (!buf) return false;
  bool cut = rt_bert_encode(v, s, len, lower, max_len, buf, buf + max_len, buf + 2 * max_len);
  print_ids(buf, max_len);
  printf(" | ");
  print_ids(buf + 2 * max_len, max_len);
  printf(" | %d", cut);
  free(buf);
  return true;
}

int main(int argc, char **argv) {
  const char *paths[2] = {NULL, NULL};
  bool lower = true;
  int64_t max_len = 0;
  for (int i = 1, k = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--cased")) lower = false;
    else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) max_len = atoll(argv[++i]);
    else if (k < 2) paths[k++] = argv[i];
  }
  if (!paths[1] || (max_len != 0 && max_len < 2)) {
    fprintf(stderr, "usage: tokenize_driver VOCAB TEXT [--cased] [--max-len N>=2]\n");
    return 2;
  }
  RtError err = {{0}};
  RtVocab *v = rt_vocab_load(paths[0], &err);
  size_t len = 0;
  char *text = v ? read_file(paths[1], &len) : NULL;
  if (!text) {
    fprintf(stderr, "tokenize_driver: %s\n", v ? "cannot read the text" : err.msg);
    rt_vocab_free(v);
    return 2;
  }
  bool ok = true;
  for (size_t pos = 0; ok && pos < len;) {
    const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - s) : len - pos;
    ok = max_len ? print_row(v, s, n, lower, max_len) : print_pieces(v, s, n, lower);
    putchar('\n');
    pos += n + 1;
  }
  free(text);
  rt_vocab_free(v);
  return ok ? 0 : 1;
}
