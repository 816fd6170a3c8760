/* fe.h -- the .model language front end: a reentrant flex scanner, a pure
   bison parser building an AST, and the lowering that instantiates blocks,
   evaluates compile-time values and builds the forward IR graph. */
#ifndef FE_H
#define FE_H

#include "ir.h"

typedef struct FeDefine {
  const char *name;     /* dim name, e.g. "B" */
  int64_t value;
} FeDefine;

typedef struct FeOptions {
  const FeDefine *defines;   /* -D NAME=VALUE overrides of model dims */
  int ndefines;
  const char *stdlib_dir;    /* where `import "std/..."` looks; NULL = built in */
} FeOptions;

/* Compiles a model file to its forward graph (outputs and loss). Returns
   NULL after reporting every error found into d. Source text is registered
   in src so diagnostics show lines and carets. */
IrGraph *fe_compile_file(const char *path, const FeOptions *o, McSources *src, McDiag *d);
/* Same, from text in memory; `name` is used in diagnostics and to resolve
   relative imports (directory of name). */
IrGraph *fe_compile_string(const char *name, const char *text, const FeOptions *o,
                           McSources *src, McDiag *d);

#endif
