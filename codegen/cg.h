/* cg.h -- LLVM code generation. No LLVM type appears in this header. The
   JIT and AOT back ends arrive with the next issue; this layer now only
   reports the LLVM it was built against. */
#ifndef CG_H
#define CG_H
#include "ir.h"
/* "19.1.7" and the host CPU name LLVM detects, e.g. "znver5". */
const char *cg_llvm_version(void);
void cg_host_cpu(McStr *out);
#endif
