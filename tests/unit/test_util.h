/* test_util.h -- CUnit boilerplate shared by the unit tests. A test file
   lists its cases in a TestCase array and calls test_main:

     static const TestCase cases[] = {{"name", fn}, ...};
     int main(void) { return test_main("suite", cases, MC_COUNTOF(cases)); }
*/
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "mc.h"

typedef struct TestCase {
  const char *name;
  void (*fn)(void);
} TestCase;

static inline int test_main(const char *suite, const TestCase *cases, size_t n) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  for (size_t i = 0; i < n; i++) CU_add_test(s, cases[i].name, cases[i].fn);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}

#endif
