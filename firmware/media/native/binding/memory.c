/* The process's C heap. After a burst of calls the freed memory of their legs, SIP messages and
 * buffers lies between live blocks, where free() cannot return it: malloc_trim() can, page by
 * page. Other C libraries than glibc have neither call: there both do nothing. */
#define _GNU_SOURCE
#include "memory.h"

#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void confbox_memory_init(void) {
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 2);
#endif
}

napi_value confbox_release_memory(napi_env env, napi_callback_info info) {
    (void)info;
    int released = 0;
#ifdef __GLIBC__
    released = malloc_trim(0);
#endif
    napi_value out;
    if (napi_get_boolean(env, released != 0, &out) != napi_ok) return NULL;
    return out;
}
