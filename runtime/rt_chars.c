/* rt_chars.c -- the character vocabulary of char-level models (gpt.model's
   V = 96): id 0 is '\n', ids 1..95 are the printable ASCII bytes ' '..'~'.
   A tab reads as a space and '\r' is dropped; any other byte (control
   characters, UTF-8 beyond ASCII) is dropped and counted. */
#include "rt_io.h"

#include <stdlib.h>

#define TEXT_LIMIT ((int64_t)1 << 31) /* bytes of one text file */

int32_t rt_char_id(int c) {
  if (c == '\n') return 0;
  if (c == '\t') c = ' ';
  return c >= ' ' && c <= '~' ? (int32_t)(c - ' ' + 1) : -1;
}

int rt_char_of(int32_t id) {
  if (id == 0) return '\n';
  return id >= 1 && id < RT_CHAR_VOCAB ? ' ' + (int)id - 1 : -1;
}

RtData *rt_load_text_chars(const char *path, int64_t *ndropped, RtError *err) {
  RtReader r;
  if (!rt_reader_open(&r, path, err)) return NULL;
  int64_t len = 0;
  char *text = rt_reader_read_rest(&r, TEXT_LIMIT, &len, err);
  rt_reader_close(&r);
  if (!text) return NULL;
  int64_t n = 0, dropped = 0;
  for (int64_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    n += rt_char_id(c) >= 0;
    dropped += rt_char_id(c) < 0 && c != '\r';
  }
  RtData *d = NULL;
  if (n == 0) {
    rt_error_set(err, "%s: no text (%lld bytes, none of them a character of the model's "
                 "vocabulary)", path, (long long)len);
  } else if ((d = rt_data_new(RT_I32, 1, &n, err))) {
    int32_t *ids = d->data;
    for (int64_t i = 0, k = 0; i < len; i++)
      if (rt_char_id((unsigned char)text[i]) >= 0) ids[k++] = rt_char_id((unsigned char)text[i]);
  }
  free(text);
  if (ndropped) *ndropped = dropped;
  return d;
}
