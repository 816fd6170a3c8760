/* main.c -- placeholder driver until cli lands. */
#include <stdio.h>
#include "cg.h"
int main(void) { printf("modelc %s (LLVM %s)\n", MODELC_VERSION, cg_llvm_version()); return 0; }
