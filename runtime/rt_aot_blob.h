/* rt_aot_blob.h -- the AOT runtime embedded in the compiler (mc_aotblob,
   generated at build time by rt_aot_blob.cmake): the static archive
   libmc_aotrt.a (rt_aot.c and what it needs, position-independent, every
   symbol hidden) and the text of rt_aot.h. `modelc build` writes them out
   to compile a model's image and link its shared library. */
#ifndef RT_AOT_BLOB_H
#define RT_AOT_BLOB_H

#include <stddef.h>

extern const unsigned char rt_aot_blob_archive[];
extern const size_t rt_aot_blob_archive_size;
extern const char rt_aot_blob_header[];      /* NUL-terminated */
extern const size_t rt_aot_blob_header_size; /* without the NUL */

#endif
