/* The process's C heap: fewer malloc arenas, and free pages given back to the system. */
#ifndef CONFBOX_MEMORY_H
#define CONFBOX_MEMORY_H

#include <node_api.h>

/* At most two malloc arenas from now on (glibc otherwise makes up to eight per core, one per
 * thread that meets contention, each keeping its own free memory). Called when the addon loads. */
void confbox_memory_init(void);
/* releaseMemory() -> boolean: gives the pages of free C-heap memory back to the system (glibc's
 * malloc_trim; free only returns what lies at the top of the heap). true if any went back. */
napi_value confbox_release_memory(napi_env env, napi_callback_info info);

#endif
