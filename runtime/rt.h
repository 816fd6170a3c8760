/* rt.h -- the runtime that generated code links against (libc only). It is
   filled by the code-generation issue; for now it only reports its ABI. */
#ifndef RT_H
#define RT_H
#define RT_ABI_VERSION 0
int rt_abi_version(void);
#endif
