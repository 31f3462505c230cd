#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
// glibc's malloc_trim, which Swift's Glibc module does not export (<malloc.h> is not in it).
#include <malloc.h>
#endif
