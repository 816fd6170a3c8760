/* cg_target.c -- the machine the code is made for: the target machine (the
   host CPU with all its features unless a CPU is named), and the matmul
   kernel shape and cache blocks that suit its vector width. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "cg_int.h"

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void init_llvm(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

static bool is_host(const CgOptions *o) { return !o->cpu || !*o->cpu; }

/* The machine for o, and (features_out) the feature string it was made
   with ("" for a named CPU). */
static LLVMTargetMachineRef target_machine(const CgOptions *o, McDiag *d, char **features_out) {
  pthread_once(&llvm_once, init_llvm);
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    mc_error(d, (McLoc){0}, "codegen: no target for %s: %s", triple, err);
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = is_host(o) ? LLVMGetHostCPUName() : NULL;
  char *features = is_host(o) ? LLVMGetHostCPUFeatures() : NULL;
  LLVMCodeGenOptLevel level = o->opt_level <= 0   ? LLVMCodeGenLevelNone
                              : o->opt_level == 1 ? LLVMCodeGenLevelLess
                              : o->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                  : LLVMCodeGenLevelAggressive;
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, cpu ? cpu : o->cpu, features ? features : "", level,
                              LLVMRelocPIC, LLVMCodeModelSmall);
  if (cpu)
    LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(triple);
  if (!tm)
    mc_error(d, (McLoc){0}, "codegen: cannot create a target machine for cpu '%s'",
             o->cpu ? o->cpu : "host");
  *features_out = features ? mc_xstrdup(features) : mc_xstrdup("");
  if (features)
    LLVMDisposeMessage(features);
  return tm;
}

LLVMTargetMachineRef cg_target_machine(const CgOptions *o, McDiag *d) {
  char *features = NULL;
  LLVMTargetMachineRef tm = target_machine(o, d, &features);
  free(features);
  return tm;
}

int cg_online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static bool has_feature(const char *features, const char *name) {
  size_t n = strlen(name);
  for (const char *p = features; (p = strstr(p, name)) != NULL; p += n)
    if (p > features && p[-1] == '+' && (p[n] == ',' || p[n] == '\0'))
      return true;
  return false;
}

/* Vector width of a CPU given by name (no feature string to read). */
static int named_cpu_bits(const char *cpu) {
  static const char *const wide[] = {
      "avx512",    "skylake-avx512", "cascadelake",    "cooperlake",    "icelake",
      "tigerlake", "rocketlake",     "sapphirerapids", "emeraldrapids", "graniterapids",
      "znver4",    "znver5",         "x86-64-v4"};
  for (size_t i = 0; i < MC_COUNTOF(wide); i++)
    if (strstr(cpu, wide[i]))
      return 512;
  return strstr(cpu, "x86-64") && !strstr(cpu, "v3") ? 128 : 256;
}

/* The microkernel shape and cache blocks for a vector width, in elements
   (f64 uses the same rows and vectors, so half the columns). A B panel of
   KC x NR stays in L1 while the MC x KC block of A streams from L2.
   512: 14 x 32 with 28 of the 32 zmm registers accumulating, MC 84 x KC
   512 (a 168 KiB A block, as 168 x 256 before; the 64 KiB B panel streams
   from L2 rather than staying in L1). On a Zen 4 (32 KiB L1d, 1 MiB L2),
   three rounds in turn of matmul_bench at n = 1024 / 2048: 168 x 256
   200-202 / 197-200 GFLOP/s on 2 threads, 84 x 512 203-210 / 206-207,
   56 x 1024 201-209 / 208-211; one thread 100 / 100, 103 / 105, 106 / 109;
   mlp and gpt train steps and resnet_mini's the same within noise (their
   K are mostly <= 512). The 256-bit kernel runs about as fast there: Zen 4
   splits each zmm FMA in two, so the wider vectors buy no FLOPs. 256: 6 x 16
   with 12 of 16 ymm; on Zen 3 (32 KiB L1d, 512 KiB L2) MC 96 x KC 512
   measured best (78-80 GFLOP/s on one core at n = 1024, against 56-61 for
   144 x 256 and OpenBLAS's 70-80 in the same runs). */
static void kernel_shape(CgTarget *t, const CgOptions *o, const char *features) {
  int bits = o->vector_bits;
  if (bits != 128 && bits != 256 && bits != 512) {
    if (!is_host(o))
      bits = named_cpu_bits(o->cpu);
    else
      bits = has_feature(features, "avx512f") ? 512 : has_feature(features, "avx2") ? 256 : 128;
  }
  t->vector_bytes = bits / 8;
  t->threads = o->threads > 0 ? o->threads : 0;
  switch (bits) {
  case 512:
    *t = (CgTarget){64, t->threads, 14, 2, 84, 512, 4096, false, -1, false, false};
    break;
  case 256:
    *t = (CgTarget){32, t->threads, 6, 2, 96, 512, 4096, false, -1, false, false};
    break;
  default:
    *t = (CgTarget){16, t->threads, 4, 2, 128, 256, 2048, false, -1, false, false};
    break;
  }
}

int cg_host_vector_bits(void) {
  pthread_once(&llvm_once, init_llvm);
  char *features = LLVMGetHostCPUFeatures();
  int bits = has_feature(features, "avx512f") ? 512 : has_feature(features, "avx2") ? 256 : 128;
  LLVMDisposeMessage(features);
  return bits;
}

bool cg_target_choose(const CgOptions *o, CgTarget *t, McDiag *d) {
  char *features = NULL;
  LLVMTargetMachineRef probe = target_machine(o, d, &features);
  if (probe) {
    kernel_shape(t, o, features);
    t->shared_params = o->shared_params;
    t->stable_params = o->stable_params && !o->aot;
    if (t->threads <= 0)
      t->threads = cg_online_cores();
    LLVMDisposeTargetMachine(probe);
  }
  free(features);
  return probe != NULL;
}

/* LLVM only warns about a CPU it does not know and then aborts while
   compiling for it, so a child process compiles a small function first. */
bool cg_cpu_known(const char *cpu) {
  if (!cpu || !*cpu)
    return true;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
      dup2(null, 2);
    CgOptions o = cg_options_default();
    o.cpu = cpu;
    McDiag d;
    mc_diag_init(&d, NULL, stderr);
    LLVMTargetMachineRef tm = cg_target_machine(&o, &d);
    if (!tm)
      _exit(1);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("probe", ctx);
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(ctx);
    LLVMValueRef fn = LLVMAddFunction(mod, "probe", LLVMFunctionType(f64, &f64, 1, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
    LLVMBuildRet(b, LLVMBuildFMul(b, LLVMGetParam(fn, 0), LLVMGetParam(fn, 0), ""));
    char *err = NULL;
    LLVMMemoryBufferRef obj = NULL;
    _exit(LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &err, &obj) ? 1 : 0);
  }
  int status = 1;
  if (pid < 0 || waitpid(pid, &status, 0) < 0)
    return true; /* cannot tell: let the build report what it meets */
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
