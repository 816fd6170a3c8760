/* cg_perfmap.c -- names the JIT's machine code for perf: with MODELC_PERF_MAP
   set (to anything but "0" or ""), every object the JIT links appends its
   functions to /tmp/perf-PID.map ("START SIZE NAME", hex), the file perf
   reads for code it finds in no ELF file. The object file gives each
   function's offset and size in its section; the JIT gives the address
   of one function of the section that it can look up (a global one), and
   the section keeps its layout when loaded, so the others follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Object.h>

#include "cg_int.h"

typedef struct PerfSym {
  char *name, *section;
  uint64_t offset, size;
} PerfSym;

struct CgPerfObject {
  PerfSym *syms;
  int n;
};

bool cg_perf_map_wanted(void) {
  const char *v = getenv("MODELC_PERF_MAP");
  return v && *v && strcmp(v, "0") != 0;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(mc_xmalloc(n), s, n);
}

CgPerfObject *cg_perf_read(LLVMMemoryBufferRef obj) {
  char *msg = NULL;
  LLVMBinaryRef bin = LLVMCreateBinary(obj, NULL, &msg);
  if (!bin) {
    LLVMDisposeMessage(msg);
    return NULL;
  }
  CgPerfObject *po = mc_xcalloc(1, sizeof *po);
  int cap = 0;
  LLVMSymbolIteratorRef sym = LLVMObjectFileCopySymbolIterator(bin);
  LLVMSectionIteratorRef sec = LLVMObjectFileCopySectionIterator(bin);
  for (; !LLVMObjectFileIsSymbolIteratorAtEnd(bin, sym); LLVMMoveToNextSymbol(sym)) {
    const char *name = LLVMGetSymbolName(sym);
    uint64_t size = LLVMGetSymbolSize(sym);
    LLVMMoveToContainingSection(sec, sym);
    if (LLVMObjectFileIsSectionIteratorAtEnd(bin, sec))
      continue;
    const char *section = LLVMGetSectionName(sec);
    if (!name || !*name || size == 0 || !section || strncmp(section, ".text", 5) != 0)
      continue;
    if (po->n == cap) {
      cap = cap ? 2 * cap : 64;
      po->syms = mc_xrealloc(po->syms, (size_t)cap * sizeof *po->syms);
    }
    uint64_t offset = LLVMGetSymbolAddress(sym) - LLVMGetSectionAddress(sec);
    po->syms[po->n++] = (PerfSym){dup_str(name), dup_str(section), offset, size};
  }
  LLVMDisposeSectionIterator(sec);
  LLVMDisposeSymbolIterator(sym);
  LLVMDisposeBinary(bin);
  return po;
}

void cg_perf_free(CgPerfObject *po) {
  if (!po)
    return;
  for (int i = 0; i < po->n; i++) {
    free(po->syms[i].name);
    free(po->syms[i].section);
  }
  free(po->syms);
  free(po);
}

/* The load address of section `section` of po: a symbol of it the JIT
   finds (lookup: global ones), less that symbol's offset; 0 if none. */
static uint64_t section_base(const CgPerfObject *po, const char *section, CgPerfLookup lookup,
                             void *arg) {
  for (int i = 0; i < po->n; i++) {
    uint64_t addr;
    if (!strcmp(po->syms[i].section, section) && lookup(arg, po->syms[i].name, &addr))
      return addr - po->syms[i].offset;
  }
  return 0;
}

int cg_perf_write(CgPerfObject *po, CgPerfLookup lookup, void *arg) {
  if (!po)
    return 0;
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%ld.map", (long)getpid());
  FILE *f = fopen(path, "a");
  int written = 0;
  const char *section = NULL; /* symbols come grouped by section, mostly one */
  uint64_t base = 0;
  for (int i = 0; f && i < po->n; i++) {
    if (!section || strcmp(section, po->syms[i].section) != 0) {
      section = po->syms[i].section;
      base = section_base(po, section, lookup, arg);
    }
    if (!base)
      continue;
    fprintf(f, "%llx %llx %s\n", (unsigned long long)(base + po->syms[i].offset),
            (unsigned long long)po->syms[i].size, po->syms[i].name);
    written++;
  }
  if (f)
    fclose(f);
  cg_perf_free(po);
  return written;
}
