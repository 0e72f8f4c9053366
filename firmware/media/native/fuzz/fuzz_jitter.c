/* The jitter buffer fed what a hostile sender chooses: sequence numbers, timestamps, sizes and
 * arrival times from the input, interleaved with the ticks that play it out, in G.711 (8 kHz) or
 * G.722 (16 kHz out of an 8 kHz RTP clock) as the engine configures it. */
#include "../src/g711.h"
#include "../src/g722.h"
#include "../src/jitter.h"
#include "fuzz.h"

#include <string.h>

#define TICK_TS 160 /* 20 ms at the 8 kHz RTP clock */

static int decode_ulaw(void *ctx, const uint8_t *p, size_t len, int16_t *pcm, size_t max) {
    (void)ctx;
    if (len > max) return -1;
    g711_ulaw_decode_buf(p, len, pcm);
    return (int)len;
}

static int decode_g722(void *ctx, const uint8_t *p, size_t len, int16_t *pcm, size_t max) {
    if (2 * len > max) return -1;
    return (int)g722_decode(ctx, p, len, pcm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    int wide = fuzz_take(&in, 1) & 1;
    g722_decoder *dec = wide ? g722_decoder_create() : NULL;
    unsigned samples = wide ? 2 * TICK_TS : TICK_TS;
    jitter_config cfg = {TICK_TS, samples, 0, 1, 8, wide ? decode_g722 : decode_ulaw, dec};
    jitter *jb = jitter_create(&cfg);
    FUZZ_ASSERT(jb != NULL);
    static uint8_t payload[JITTER_MAX_PAYLOAD + 64];
    static int16_t pcm[JITTER_MAX_TICK + 64];
    uint16_t seq = 0;
    uint32_t ts = 0, arrival = 0;
    unsigned puts = 0, gets = 0;
    while (in.left) {
        unsigned op = fuzz_take(&in, 1);
        if (op & 0x80) { /* a tick: one frame out, and the clock moves on */
            pcm[samples] = 0x5A5A;
            jitter_status s = jitter_get(jb, pcm);
            FUZZ_ASSERT(s == JITTER_SILENCE || s == JITTER_FRAME || s == JITTER_CONCEALED);
            FUZZ_ASSERT(pcm[samples] == 0x5A5A); /* never more than a tick written */
            arrival += TICK_TS;
            gets++;
            continue;
        }
        /* a packet: small steps most of the time, any value when the op says so */
        seq = op & 0x40 ? (uint16_t)fuzz_take(&in, 2) : (uint16_t)(seq + (op & 0x07) - 2);
        ts = op & 0x20 ? fuzz_take(&in, 4) : ts + TICK_TS * ((op >> 3) & 0x03);
        size_t len = op & 0x10 ? fuzz_take(&in, 2) % (sizeof payload) : TICK_TS;
        unsigned duration = op & 0x10 ? fuzz_take(&in, 2) : (unsigned)len;
        for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)fuzz_take(&in, 1);
        jitter_result r = jitter_put(jb, seq, ts, payload, len, duration, arrival);
        FUZZ_ASSERT(r <= JITTER_OK && r >= JITTER_E_FULL);
        puts++;
    }
    jitter_stats st;
    jitter_get_stats(jb, &st);
    FUZZ_ASSERT(st.packets <= JITTER_MAX_PACKETS);
    FUZZ_ASSERT(st.frames + st.concealed + st.silent == gets);
    FUZZ_ASSERT(st.late + st.duplicates <= puts);
    jitter_destroy(jb);
    g722_decoder_destroy(dec);
    return 0;
}
