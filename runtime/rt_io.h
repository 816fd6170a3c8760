/* rt_io.h -- the data loaders' bounded reader over plain and gzip files
   (rt_io.c, through zlib). Included by the loaders only, never by the part
   of the runtime that AOT libraries link. */
#ifndef RT_IO_H
#define RT_IO_H

#include "rt_int.h"

#include <zlib.h>

/* ---- rt_io.c ---------------------------------------------------------------
   An RtReader reads a plain or gzip file front to back. Sizes are checked
   against what the file holds before anything large is allocated: plain
   files by their size on disk, gzip files by growing the buffer as data
   actually arrives (so a small hostile file never costs a large
   allocation). */
typedef struct RtReader {
  const char *path;
  gzFile gz;          /* reads plain and gzip files alike */
  bool is_gzip;       /* the file starts with the gzip magic 1f 8b */
  int64_t file_size;  /* bytes on disk */
  int64_t pos;        /* uncompressed bytes consumed so far */
} RtReader;

bool rt_reader_open(RtReader *r, const char *path, RtError *err);
void rt_reader_close(RtReader *r);
/* Reads up to n bytes; returns the count (short only at the end of the
   data) or -1 with err set on a read or gzip error. */
int64_t rt_reader_read(RtReader *r, void *buf, int64_t n, RtError *err);
/* Reads exactly want bytes into a new heap buffer (*out). Returns 1 on
   success; 0 when the file holds fewer (*got = bytes it holds after the
   current position, nothing allocated, err untouched: the caller words the
   message); -1 on a read error or out of memory (err set). */
int rt_reader_read_payload(RtReader *r, int64_t want, void **out,
                           int64_t *got, RtError *err);
/* Reads everything left (at most limit bytes) into a new NUL-terminated
   heap buffer; NULL with err set on error or when larger than limit. */
char *rt_reader_read_rest(RtReader *r, int64_t limit, int64_t *len,
                          RtError *err);
/* Reads to the end and returns how many bytes were left (at most
   RT_COUNT_CAP: "at least" that many), checking on the way that a gzip
   stream ends with a valid checksum; -1 with err set on error. */
#define RT_COUNT_CAP ((int64_t)1 << 32)
int64_t rt_reader_count_rest(RtReader *r, RtError *err);

#endif
