/* G.711 against properties of the ITU-T reference: code points, round trip, monotonicity. */
#include "../src/g711.h"
#include "check.h"

#include <stdlib.h>

/* Position of a decoded value in signal order, to compare codes by the level they stand for. */
static int decode_rank_ok(const int16_t *table, const uint8_t *order) {
    for (int i = 1; i < 256; i++)
        if (table[order[i]] < table[order[i - 1]]) return 0;
    return 1;
}

int main(void) {
    /* Known code points: µ-law 0xFF and 0x7F are the zeros, 0x80/0x00 the extremes (8031 << 2
     * less the bias: 32124); A-law 0xD5/0x55 are +8/-8, 0xAA/0x2A the extremes (4032 << 3). */
    check(g711_ulaw_decode(0xFF) == 0, "mu-law 0xFF decodes to 0");
    check(g711_ulaw_decode(0x7F) == 0, "mu-law 0x7F decodes to 0");
    check(g711_ulaw_encode(0) == 0xFF, "mu-law encodes 0 as 0xFF");
    check(g711_ulaw_decode(0x80) == 32124 && g711_ulaw_decode(0x00) == -32124,
          "mu-law extremes are +/-32124");
    check(g711_ulaw_decode(0xFE) == 8 && g711_ulaw_decode(0x7E) == -8, "mu-law 0xFE/0x7E = +/-8");
    check(g711_ulaw_encode(32767) == 0x80 && g711_ulaw_encode(-32768) == 0x00,
          "mu-law clips full scale to the extreme codes");
    check(g711_alaw_decode(0xD5) == 8 && g711_alaw_decode(0x55) == -8, "A-law 0xD5/0x55 = +/-8");
    check(g711_alaw_encode(8) == 0xD5 && g711_alaw_encode(0) == 0xD5,
          "A-law encodes 0 and 8 as 0xD5");
    check(g711_alaw_encode(-8) == 0x55, "A-law encodes -8 as 0x55");
    check(g711_alaw_decode(0xAA) == 32256 && g711_alaw_decode(0x2A) == -32256,
          "A-law extremes are +/-32256");
    check(g711_alaw_encode(32767) == 0xAA && g711_alaw_encode(-32768) == 0x2A,
          "A-law clips full scale to the extreme codes");

    /* Round trip: decode then encode gives the code back (µ-law's negative zero maps to 0xFF). */
    int bad_u = 0, bad_a = 0;
    for (int c = 0; c < 256; c++) {
        uint8_t u = g711_ulaw_encode(g711_ulaw_decode((uint8_t)c));
        if (u != c && !(c == 0x7F && u == 0xFF)) bad_u++;
        if (g711_alaw_encode(g711_alaw_decode((uint8_t)c)) != c) bad_a++;
    }
    check(bad_u == 0, "mu-law decode/encode identity over 256 codes (%d mismatches)", bad_u);
    check(bad_a == 0, "A-law decode/encode identity over 256 codes (%d mismatches)", bad_a);

    /* Monotonicity and bounded error over every 16-bit input. */
    int mono_u = 1, mono_a = 1, err_u = 0, err_a = 0;
    int prev_u = -40000, prev_a = -40000;
    for (int32_t x = -32768; x <= 32767; x++) {
        int du = g711_ulaw_decode(g711_ulaw_encode((int16_t)x));
        int da = g711_alaw_decode(g711_alaw_encode((int16_t)x));
        if (du < prev_u) mono_u = 0;
        if (da < prev_a) mono_a = 0;
        prev_u = du;
        prev_a = da;
        int ax = abs(x) > 32635 ? 32635 : abs(x);
        /* step of a segment is 1/16 of its lower bound: error at most half a step (+ rounding) */
        if (abs(du - (x < 0 ? -ax : ax)) > ax / 32 + 8) err_u++;
        if (abs(da - x) > abs(x) / 32 + 16 + (abs(x) > 32256 ? 512 : 0)) err_a++;
    }
    check(mono_u, "mu-law quantiser is monotonic over all 16-bit inputs");
    check(mono_a, "A-law quantiser is monotonic over all 16-bit inputs");
    check(err_u == 0, "mu-law error within half a step everywhere (%d outside)", err_u);
    check(err_a == 0, "A-law error within half a step everywhere (%d outside)", err_a);

    /* Decoded tables are sorted in code order within each sign (signal order). */
    uint8_t order_u[256], order_a[256];
    for (int i = 0; i < 128; i++) {
        order_u[i] = (uint8_t)i;                  /* 0x00 (most negative) .. 0x7F (-0) */
        order_u[255 - i] = (uint8_t)(0x80 + i);   /* 0xFF (+0) .. 0x80 (most positive) */
        order_a[127 - i] = (uint8_t)((i) ^ 0x55); /* negative codes by growing magnitude */
        order_a[128 + i] = (uint8_t)((0x80 | i) ^ 0x55);
    }
    check(decode_rank_ok(g711_ulaw_table, order_u), "mu-law table is monotonic in code order");
    check(decode_rank_ok(g711_alaw_table, order_a), "A-law table is monotonic in code order");

    /* Buffer helpers agree with the scalar functions. */
    int16_t pcm[5] = {0, 1000, -1000, 32767, -32768}, back[5];
    uint8_t enc[5];
    g711_ulaw_encode_buf(pcm, 5, enc);
    g711_ulaw_decode_buf(enc, 5, back);
    int same = 1;
    for (int i = 0; i < 5; i++)
        if (back[i] != g711_ulaw_decode(g711_ulaw_encode(pcm[i]))) same = 0;
    g711_alaw_encode_buf(pcm, 5, enc);
    g711_alaw_decode_buf(enc, 5, back);
    for (int i = 0; i < 5; i++)
        if (back[i] != g711_alaw_decode(g711_alaw_encode(pcm[i]))) same = 0;
    check(same, "buffer encode/decode match the per-sample functions");
    return check_done();
}
