/* cg_llvm.c -- facts about the LLVM that modelc links (version, host CPU). */
#include "cg.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

const char *cg_llvm_version(void) {
  static char buf[32];
  unsigned major, minor, patch;
  LLVMGetVersion(&major, &minor, &patch);
  snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, patch);
  return buf;
}

void cg_host_cpu(McStr *out) {
  char *cpu = LLVMGetHostCPUName();
  mc_str_puts(out, cpu);
  LLVMDisposeMessage(cpu);
}
