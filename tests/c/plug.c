/* plug.c - a plugin that dl.c's deepbind test opens with RTLD_DEEPBIND, by its bare
 * name (found through dl's RUNPATH). */
#include <stdlib.h>

void *plug_alloc(size_t n) { return malloc(n); }
void plug_free(void *p) { free(p); }
void *plug_malloc_address(void) { return (void *)&malloc; }
