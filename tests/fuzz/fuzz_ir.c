/* fuzz_ir.c -- libFuzzer target for the IR text parser, the input of
   `modelc opt`: ir_parse of the input, then ir_verify and ir_print to a
   string of the graph it builds. The printed text of a verified graph must
   parse again and print the same (the text form round-trips); a mismatch
   aborts. Diagnostics go into a buffer only.
   Seeds: tests/fuzz/corpus/fuzz_ir (the .mir files of tests/lit and printed graphs of
   the examples); tokens: fuzz_ir.dict. */
#include "fuzz_util.h"
#include "ir.h"

/* ir_print(ir_parse(text)) == text for text printed by ir_print. */
static void check_round_trip(const McStr *printed, uint32_t file) {
  McDiag d;
  mc_diag_init(&d, NULL, NULL);
  IrGraph *g = ir_parse(printed->s, file, &d);
  if (!g) {
    fprintf(stderr, "fuzz_ir: printed IR does not parse:\n%s%s", d.buf.s ? d.buf.s : "",
            printed->s);
    abort();
  }
  McStr again;
  mc_str_init(&again);
  ir_print(&again, g);
  if (strcmp(again.s, printed->s) != 0) {
    fprintf(stderr, "fuzz_ir: IR prints differently after a round trip:\n%s---\n%s",
            printed->s, again.s);
    abort();
  }
  mc_str_free(&again);
  ir_graph_free(g);
  mc_diag_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstr(data, size);
  if (!text) return -1;   /* `modelc opt` reads text; a NUL ends it */
  McSources src;
  mc_sources_init(&src);
  McDiag d;
  mc_diag_init(&d, &src, NULL);
  uint32_t file = mc_sources_add(&src, "input.mir", text, size);
  IrGraph *g = ir_parse(text, file, &d);
  if (g) {
    if (ir_verify(g, &d)) {
      McStr out;
      mc_str_init(&out);
      ir_print(&out, g);
      check_round_trip(&out, file);
      mc_str_free(&out);
    }
    ir_graph_free(g);
  }
  mc_diag_fini(&d);
  mc_sources_free(&src);
  free(text);
  return 0;
}
