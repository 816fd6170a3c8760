/* rt_version.c -- the runtime's ABI version, checked by generated code. */
#include "rt.h"
int rt_abi_version(void) { return RT_ABI_VERSION; }
