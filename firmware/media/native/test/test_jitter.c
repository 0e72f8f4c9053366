/* Jitter buffer under a simulated network: reordering, loss, jitter, clock drift, wraps. */
#include "../src/jitter.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define TPT 160 /* timestamp units per 20 ms tick */

/* Payload: 32-bit frame-relative timestamp; decoding gives each sample the number of the
 * 20 ms frame it belongs to (+1), so the test can see which frame played. */
static int decode(void *ctx, const uint8_t *p, size_t len, int16_t *pcm, size_t max) {
    int scale = ctx ? 1000 : 1; /* direct checks want audible values */
    uint32_t rel = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (len > max) return -1;
    for (size_t i = 0; i < len; i++) pcm[i] = (int16_t)((((rel + i) / TPT) % 30000 + 1) * scale);
    return (int)len;
}

typedef struct {
    uint64_t arrive_us;
    uint16_t seq;
    uint32_t ts, rel;
    unsigned dur;
} pkt;

static int by_arrival(const void *a, const void *b) {
    const pkt *x = a, *y = b;
    return x->arrive_us < y->arrive_us ? -1 : x->arrive_us > y->arrive_us;
}

static uint32_t rng = 12345;
static unsigned rnd(unsigned n) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % n;
}

typedef struct {
    double drift;        /* sender clock: +0.005 = 0.5 % fast */
    unsigned jitter_us;  /* uniform extra delay 0..jitter_us */
    unsigned loss_every; /* drop every n-th packet (0: none) */
    unsigned burst;      /* drop this many in a row at packet 500 */
    unsigned swap_every; /* swap arrival of every n-th pair (0: none) */
    unsigned ptime;      /* ms per packet */
    uint16_t seq0;
    uint32_t ts0;
    unsigned seconds;
} scenario;

typedef struct {
    unsigned frames, concealed, silent, out_of_order, max_run_concealed, audible_after_fade;
    int32_t max_depth_late, max_latency_ms, last_latency_ms, min_latency_ms;
    jitter_stats st;
} result;

static result run(const scenario *sc) {
    result r;
    memset(&r, 0, sizeof r);
    r.min_latency_ms = 1 << 30;
    unsigned per_packet = sc->ptime * 8, npk = sc->seconds * 1000 / sc->ptime;
    pkt *pk = calloc(npk, sizeof *pk);
    double period_us = sc->ptime * 1000.0 / (1.0 + sc->drift);
    unsigned n = 0;
    for (unsigned k = 0; k < npk; k++) {
        if (sc->loss_every && k % sc->loss_every == sc->loss_every - 1) continue;
        if (sc->burst && k >= 500 && k < 500 + sc->burst) continue;
        pk[n].seq = (uint16_t)(sc->seq0 + k);
        pk[n].rel = k * per_packet;
        pk[n].ts = sc->ts0 + pk[n].rel;
        pk[n].dur = per_packet;
        pk[n].arrive_us =
            (uint64_t)(k * period_us) + 5000 + (sc->jitter_us ? rnd(sc->jitter_us) : 0);
        if (sc->swap_every && n && k % sc->swap_every == 0) { /* arrive before its predecessor */
            uint64_t t = pk[n].arrive_us;
            pk[n].arrive_us = pk[n - 1].arrive_us;
            pk[n - 1].arrive_us = t + 1;
        }
        n++;
    }
    qsort(pk, n, sizeof *pk, by_arrival);
    jitter_config cfg = {TPT, TPT, 0, 0, 0, decode, NULL};
    jitter *jb = jitter_create(&cfg);
    int16_t out[TPT];
    unsigned next = 0, run_c = 0;
    int last_frame = 0;
    uint64_t ticks = sc->seconds * 50;
    for (uint64_t t = 1; t <= ticks; t++) {
        uint64_t now = t * 20000 + 3000;
        while (next < n && pk[next].arrive_us <= now) {
            uint8_t payload[JITTER_MAX_PAYLOAD] = {0};
            uint32_t rel = pk[next].rel;
            payload[0] = (uint8_t)(rel >> 24);
            payload[1] = (uint8_t)(rel >> 16);
            payload[2] = (uint8_t)(rel >> 8);
            payload[3] = (uint8_t)rel;
            jitter_put(jb, pk[next].seq, pk[next].ts, payload, pk[next].dur, pk[next].dur,
                       (uint32_t)(pk[next].arrive_us * 8 / 1000));
            next++;
        }
        jitter_status s = jitter_get(jb, out);
        jitter_stats st;
        jitter_get_stats(jb, &st);
        if (s == JITTER_FRAME) {
            r.frames++;
            run_c = 0;
            int f = out[TPT - 1];
            if (f < last_frame) r.out_of_order++;
            last_frame = f;
            /* latency: now minus when the sender sent this frame's packet */
            int32_t lat =
                (int32_t)(((int64_t)now - (int64_t)((f - 1) * 20000.0 / (1.0 + sc->drift))) / 1000);
            if (t > 250) {
                if (lat > r.max_latency_ms) r.max_latency_ms = lat;
                if (lat < r.min_latency_ms) r.min_latency_ms = lat;
                int32_t over = (int32_t)st.depth_ts - (int32_t)st.target_ts;
                if (over > r.max_depth_late) r.max_depth_late = over;
            }
            r.last_latency_ms = lat;
        } else if (s == JITTER_CONCEALED) {
            r.concealed++;
            if (++run_c > r.max_run_concealed) r.max_run_concealed = run_c;
        } else {
            r.silent++;
        }
    }
    jitter_get_stats(jb, &r.st);
    jitter_destroy(jb);
    free(pk);
    return r;
}

int main(void) {
    scenario base = {0, 0, 0, 0, 0, 20, 1000, 5000, 20};
    result r = run(&base);
    check(r.concealed == 0 && r.out_of_order == 0 && r.frames >= 995,
          "steady stream: every frame played in order (%u frames, %u concealed)", r.frames,
          r.concealed);
    check(r.max_latency_ms <= 45, "steady stream: latency at most two ticks (%d ms)",
          r.max_latency_ms);

    scenario reorder = base;
    reorder.swap_every = 7;
    reorder.jitter_us = 8000;
    r = run(&reorder);
    check(r.out_of_order == 0 && r.concealed <= 3,
          "reordering is absorbed (%u concealed, %u out of order, %u late)", r.concealed,
          r.out_of_order, r.st.late);

    scenario loss = base;
    loss.loss_every = 10;
    r = run(&loss);
    check(r.concealed >= 95 && r.concealed <= 105 && r.max_run_concealed == 1,
          "10 %% loss: each lost packet concealed by one frame (%u)", r.concealed);
    check(r.out_of_order == 0, "loss: order kept");

    scenario burst = base;
    burst.burst = 20;
    r = run(&burst);
    check(r.max_run_concealed <= JITTER_CONCEAL_TICKS,
          "400 ms burst loss: at most %d faded frames, then silence (%u concealed, %u silent)",
          JITTER_CONCEAL_TICKS, r.max_run_concealed, r.silent);

    scenario jit = base;
    jit.jitter_us = 40000;
    jit.seconds = 60;
    r = run(&jit);
    check(r.out_of_order == 0 && r.concealed < 3000 / 50,
          "0-40 ms jitter: under 2 %% concealed (%u of %u), in order", r.concealed,
          r.frames + r.concealed);
    check(r.max_latency_ms <= 140, "0-40 ms jitter: latency bounded (max %d ms, target %u ts)",
          r.max_latency_ms, r.st.target_ts);

    scenario fast = base;
    fast.drift = 0.005;
    fast.seconds = 120;
    fast.jitter_us = 4000;
    r = run(&fast);
    check(r.max_depth_late <= 2 * TPT,
          "sender 0.5 %% fast: depth stays within target + 2 ticks (worst %d ts over)",
          r.max_depth_late);
    check(r.last_latency_ms <= 80 && r.max_latency_ms <= 90,
          "sender 0.5 %% fast: no latency creep (last %d ms, max %d ms, %u ts dropped)",
          r.last_latency_ms, r.max_latency_ms, r.st.dropped_ts);

    scenario slow = base;
    slow.drift = -0.005;
    slow.seconds = 120;
    slow.jitter_us = 4000;
    r = run(&slow);
    check(r.max_latency_ms <= 90 && r.concealed <= 40,
          "sender 0.5 %% slow: bounded latency (max %d ms) and few concealed frames (%u)",
          r.max_latency_ms, r.concealed);
    check(r.out_of_order == 0, "drift: order kept");

    scenario wrap = base;
    wrap.seq0 = 65500;
    wrap.ts0 = 0xFFFFFFFFu - 8000;
    wrap.swap_every = 5;
    wrap.jitter_us = 5000;
    r = run(&wrap);
    check(r.out_of_order == 0 && r.concealed <= 5 && r.frames >= 990,
          "sequence and timestamp wrap: played through (%u frames, %u concealed)", r.frames,
          r.concealed);

    scenario p40 = base;
    p40.ptime = 40;
    r = run(&p40);
    check(r.out_of_order == 0 && r.concealed == 0 && r.frames >= 990,
          "40 ms packets played as 20 ms ticks (%u frames)", r.frames);
    scenario p10 = base;
    p10.ptime = 10;
    r = run(&p10);
    check(r.out_of_order == 0 && r.concealed == 0 && r.frames >= 990,
          "10 ms packets played as 20 ms ticks (%u frames)", r.frames);

    /* Direct checks: duplicates, late packets, start silence, concealment fade, reset. */
    static int scaled = 1;
    jitter_config cfg = {TPT, TPT, 0, 0, 0, decode, &scaled};
    jitter *jb = jitter_create(&cfg);
    int16_t out[TPT];
    uint8_t pl[TPT] = {0};
    uint8_t pl2[TPT] = {0, 0, 0, TPT}; /* second frame */
    check(jitter_get(jb, out) == JITTER_SILENCE && out[0] == 0, "silence before the first packet");
    check(jitter_put(jb, 1, 0, pl, TPT, TPT, 0) == JITTER_OK, "first packet accepted");
    check(jitter_put(jb, 1, 0, pl, TPT, TPT, 0) == JITTER_E_DUPLICATE, "duplicate refused");
    check(jitter_get(jb, out) == JITTER_FRAME && out[0] == 1000, "first frame played");
    check(jitter_put(jb, 0, (uint32_t)-TPT, pl, TPT, TPT, 160) == JITTER_E_LATE,
          "late packet refused");
    int32_t e0 = 0, e1 = 0, e2 = 0;
    jitter_get(jb, out); /* underflow: faded repeat */
    for (int i = 0; i < TPT; i++) e0 += abs(out[i]);
    jitter_get(jb, out);
    for (int i = 0; i < TPT; i++) e1 += abs(out[i]);
    jitter_get(jb, out);
    for (int i = 0; i < TPT; i++) e2 += abs(out[i]);
    check(e0 > e1 && e1 > e2 && e0 < TPT * 1000, "concealment fades out (%d > %d > %d)", e0, e1,
          e2);
    check(jitter_get(jb, out) == JITTER_SILENCE, "then silence, not a buzzing repeat");
    /* after the stall, the late-but-not-lost next packet plays rather than being dropped */
    check(jitter_put(jb, 2, TPT, pl2, TPT, TPT, 1000) == JITTER_OK,
          "late packet after underflow kept");
    jitter_status after = jitter_get(jb, out);
    check(after == JITTER_FRAME && out[0] == 2000, "and played after the stall (%d)", out[0]);
    jitter_reset(jb); /* SSRC change */
    check(jitter_put(jb, 9, 123456789, pl, TPT, TPT, 2000) == JITTER_OK, "new stream after reset");
    check(jitter_put(jb, 10, 123456789 + TPT, pl2, TPT, TPT, 2160) == JITTER_OK,
          "and its next packet");
    jitter_put(jb, 11, 123456789 + 2 * TPT, pl2, TPT, TPT, 2320);
    int st = jitter_get(jb, out);
    check(st == JITTER_FRAME && out[0] == 1000, "new stream plays from its first packet");
    jitter_stats js;
    jitter_get_stats(jb, &js);
    check(js.resets == 1 && js.duplicates == 1 && js.late == 1,
          "counters (resets %u dup %u late %u)", js.resets, js.duplicates, js.late);
    /* a timestamp jump restarts the buffer instead of waiting for the gap */
    check(jitter_put(jb, 12, 123456789 + 100000, pl, TPT, TPT, 2200) == JITTER_OK, "jump accepted");
    jitter_get_stats(jb, &js);
    check(js.resets == 2, "a timestamp jump restarts the buffer");
    check(jitter_put(jb, 11, 0, pl, 0, TPT, 0) == JITTER_E_INVALID, "empty payload refused");
    /* bounded: a flood of future packets never exceeds the capacity */
    for (unsigned k = 0; k < 100; k++)
        jitter_put(jb, (uint16_t)(20 + k), 123456789 + 100000 + k * TPT, pl, TPT, TPT, 3000);
    jitter_get_stats(jb, &js);
    check(js.packets <= JITTER_MAX_PACKETS, "bounded to %d packets (%u held)", JITTER_MAX_PACKETS,
          js.packets);
    jitter_destroy(jb);

    /* Room is made for 20 ms packets; a phone that changes to 60 ms while 20 ms ones are held
     * loses none of them, and the longer packet plays whole. */
    jb = jitter_create(&cfg);
    static uint8_t longer[JITTER_MAX_PAYLOAD];
    for (uint32_t k = 0; k < 3; k++) {
        uint8_t p[TPT] = {0, 0, (uint8_t)((k * TPT) >> 8), (uint8_t)(k * TPT)};
        jitter_put(jb, (uint16_t)k, k * TPT, p, TPT, TPT, k * TPT);
    }
    longer[2] = (3 * TPT) >> 8, longer[3] = (3 * TPT) & 0xFF;
    check(jitter_put(jb, 3, 3 * TPT, longer, 3 * TPT, 3 * TPT, 3 * TPT) == JITTER_OK,
          "a 60 ms packet after 20 ms ones is taken");
    uint8_t next[TPT] = {0, 0, (6 * TPT) >> 8, (6 * TPT) & 0xFF};
    jitter_put(jb, 4, 6 * TPT, next, TPT, TPT, 6 * TPT);
    int in_order = 1;
    for (int k = 0; k < 7; k++) {
        int got = jitter_get(jb, out);
        if (got != JITTER_FRAME || out[0] != (k + 1) * 1000 || out[TPT - 1] != (k + 1) * 1000)
            in_order = 0;
    }
    check(in_order, "the three held, the 60 ms packet and the next play in order, whole");
    jitter_destroy(jb);
    return check_done();
}
