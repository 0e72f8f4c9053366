/* The decoders fed arbitrary octets (what a phone sends as G.711 or G.722 payload), and the G.722
 * encoder fed arbitrary samples: every octet gives its samples, the decoder's state stays sane
 * (a tone encoded after the noise is heard again), and G.711 codes decode and re-encode to
 * themselves. */
#include "../src/g711.h"
#include "../src/g722.h"
#include "fuzz.h"

#include <string.h>

#define MAX_IN 4096

static g722_decoder *dec;
static g722_encoder *enc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int16_t pcm[2 * MAX_IN + 1];
    static uint8_t code[MAX_IN];
    if (!dec) {
        dec = g722_decoder_create();
        enc = g722_encoder_create();
        FUZZ_ASSERT(dec && enc);
    }
    if (size > MAX_IN) size = MAX_IN;

    /* G.711: a code decodes and re-encodes to the same code (µ-law's negative zero aside) */
    g711_ulaw_decode_buf(data, size, pcm);
    g711_ulaw_encode_buf(pcm, size, code);
    for (size_t i = 0; i < size; i++) FUZZ_ASSERT(code[i] == data[i] || (data[i] & 0x7F) == 0x7F);
    g711_alaw_decode_buf(data, size, pcm);
    g711_alaw_encode_buf(pcm, size, code);
    FUZZ_ASSERT(memcmp(code, data, size) == 0);

    /* G.722: two samples per octet, no more written */
    g722_decoder_reset(dec);
    pcm[2 * size] = 0x1234;
    FUZZ_ASSERT(g722_decode(dec, data, size, pcm) == 2 * size);
    FUZZ_ASSERT(pcm[2 * size] == 0x1234);

    /* the encoder fed the octets as samples, then a tone: it still encodes a tone the decoder
     * gives back near full level (its adaptive state recovered from whatever came before) */
    g722_encoder_reset(enc);
    size_t n = size / 2 & ~(size_t)1;
    memcpy(pcm, data, 2 * n);
    FUZZ_ASSERT(g722_encode(enc, pcm, n, code) == n / 2);
    g722_decoder_reset(dec);
    (void)g722_decode(dec, code, n / 2, pcm);
    enum { TONE = 800 };
    static int16_t tone[TONE], back[TONE];
    for (int i = 0; i < TONE; i++) tone[i] = (int16_t)(i % 16 < 8 ? 8000 : -8000); /* 1 kHz */
    FUZZ_ASSERT(g722_encode(enc, tone, TONE, code) == TONE / 2);
    FUZZ_ASSERT(g722_decode(dec, code, TONE / 2, back) == TONE);
    int64_t energy = 0;
    for (int i = TONE / 2; i < TONE; i++) energy += (int64_t)back[i] * back[i];
    FUZZ_ASSERT(energy / (TONE / 2) > 8000ll * 8000 / 4);
    return 0;
}
