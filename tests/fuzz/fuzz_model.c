/* fuzz_model.c -- libFuzzer target for the .model front end, the path of
   `modelc check`: the input compiled as a model file (fe_compile_string,
   flex scanner, bison parser, lowering with the built-in std/nn.model),
   then ir_verify of the graph when it compiles. Diagnostics go into a
   buffer only. Relative imports resolve in a directory that does not
   exist, so they fail; absolute ones and "std/..." read real files.
   Seeds: tests/fuzz/corpus/fuzz_model; tokens: fuzz_model.dict. */
#include "fe.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstr(data, size);
  if (!text) return -1;   /* a file with a NUL byte is rejected before compiling */
  McSources src;
  mc_sources_init(&src);
  McDiag d;
  mc_diag_init(&d, &src, NULL);
  IrGraph *g = fe_compile_string("/nonexistent-modelc-fuzz/input.model", text, NULL, &src, &d);
  if (g) {
    ir_verify(g, &d);
    ir_graph_free(g);
  }
  mc_diag_fini(&d);
  mc_sources_free(&src);
  free(text);
  return 0;
}
