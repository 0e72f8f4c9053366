/* link: -Wl,--wrap=realloc */
/* The engine when memory runs out: a join that cannot get the memory it needs fails with -ENOMEM
 * and leaves nothing behind (no conference without members), and the same join works once memory is
 * there again. realloc is wrapped (ld --wrap) so that the test can make it fail. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "check.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int fail_realloc;

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) {
    if (atomic_load(&fail_realloc)) return NULL;
    return __real_realloc(p, n);
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31400;
    cfg.port_max = 31419;
    engine *e = NULL;
    int rc = engine_create(&cfg, &e);
    if (!check(rc == 0, "engine starts (%d)", rc)) return check_done();
    engine_leg_options o = {.codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 20};
    uint32_t leg = 0;
    uint16_t port = 0;
    rc = engine_open_leg(e, &o, &leg, &port);
    if (!check(rc == 0, "a leg opens (%d)", rc)) return check_done();

    atomic_store(&fail_realloc, 1);
    rc = engine_join(e, leg, 7);
    atomic_store(&fail_realloc, 0);
    engine_stats st;
    engine_get_stats(e, &st);
    check(rc == -ENOMEM, "a join without memory fails with -ENOMEM (%d)", rc);
    check(st.conferences == 0, "and leaves no conference without members behind (%u)",
          st.conferences);

    rc = engine_join(e, leg, 7);
    engine_get_stats(e, &st);
    check(rc == 0 && st.conferences == 1,
          "the same join works once memory is there (%d, %u conference)", rc, st.conferences);
    check(engine_leave(e, leg) == 0, "leave");
    engine_get_stats(e, &st);
    check(st.conferences == 0, "the last member gone, the conference is gone (%u)", st.conferences);
    engine_destroy(e);
    return check_done();
}
