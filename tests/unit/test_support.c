/* test_support.c -- arenas, strings, diagnostics format, the RNG. */
#include <string.h>

#include "test_util.h"

static void test_support_arena_zeroes_and_survives_large(void) {
  McArena a;
  mc_arena_init(&a);
  char *p = mc_arena_alloc(&a, 100);
  for (int i = 0; i < 100; i++) CU_ASSERT_EQUAL(p[i], 0);
  char *big = mc_arena_alloc(&a, 1 << 20);
  big[(1 << 20) - 1] = 1;
  CU_ASSERT_STRING_EQUAL(mc_arena_printf(&a, "%s.%d", "layers", 3), "layers.3");
  mc_arena_free(&a);
}

static void test_support_diag_prints_line_and_caret(void) {
  McSources src;
  mc_sources_init(&src);
  const char *text = "model m {\n  x = foo(1)\n}\n";
  uint32_t f = mc_sources_add(&src, "m.model", text, strlen(text));
  McDiag d;
  mc_diag_init(&d, &src, NULL);
  McLoc loc = {f, 2, 7, 3};
  mc_error(&d, loc, "unknown name 'foo'");
  CU_ASSERT_STRING_EQUAL(d.buf.s,
                         "m.model:2:7: error: unknown name 'foo'\n"
                         "    x = foo(1)\n"
                         "        ^~~\n");
  CU_ASSERT_EQUAL(d.nerrors, 1);
  mc_diag_fini(&d);
  mc_sources_free(&src);
}

static void test_support_diag_without_location(void) {
  McDiag d;
  mc_diag_init(&d, NULL, NULL);
  McLoc none = {0, 0, 0, 0};
  mc_error(&d, none, "no input files");
  mc_diag_file_error(&d, "data.idx", "truncated after 16 bytes");
  CU_ASSERT_STRING_EQUAL(d.buf.s, "modelc: error: no input files\ndata.idx: error: truncated after 16 bytes\n");
  mc_diag_fini(&d);
}

static void test_support_rng_is_counter_based(void) {
  CU_ASSERT_EQUAL(mc_rng_u64(1, 2, 3), mc_rng_u64(1, 2, 3));
  CU_ASSERT_NOT_EQUAL(mc_rng_u64(1, 2, 3), mc_rng_u64(1, 2, 4));
  CU_ASSERT_NOT_EQUAL(mc_rng_u64(1, 2, 3), mc_rng_u64(2, 2, 3));
  double sum = 0, sq = 0;
  for (int i = 0; i < 100000; i++) {
    double z = mc_rng_normal(7, 1, (uint64_t)i);
    sum += z;
    sq += z * z;
  }
  CU_ASSERT(sum / 100000 < 0.02 && sum / 100000 > -0.02);
  CU_ASSERT(sq / 100000 > 0.98 && sq / 100000 < 1.02);
}

static void test_support_edit_distance(void) {
  CU_ASSERT_EQUAL(mc_edit_distance("relu", "reul"), 2);
  CU_ASSERT_EQUAL(mc_edit_distance("linear", "linaer"), 2);
  CU_ASSERT_EQUAL(mc_edit_distance("gelu", "gelu"), 0);
  CU_ASSERT_EQUAL(mc_edit_distance("", "abc"), 3);
}

int main(void) {
  static const TestCase cases[] = {
      {"arena", test_support_arena_zeroes_and_survives_large},
      {"diag_caret", test_support_diag_prints_line_and_caret},
      {"diag_noloc", test_support_diag_without_location},
      {"rng", test_support_rng_is_counter_based},
      {"edit_distance", test_support_edit_distance},
  };
  return test_main("support", cases, MC_COUNTOF(cases));
}
