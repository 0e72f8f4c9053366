/* G.711 µ-law and A-law (ITU-T G.711), written from the recommendation's segment laws. */
#include "g711.h"

/* µ-law: codes are transmitted inverted; sign bit set (after inversion) means negative.
 * Magnitude = ((mantissa * 8 + 132) << segment) - 132, in 16-bit scale (14-bit law << 2). */
#define ULAW_T(u) ((((((u)&0x0F) << 3) + 0x84) << (((u)&0x70) >> 4)))
#define ULAW_V(u) ((int16_t)(((u)&0x80) ? 0x84 - ULAW_T(u) : ULAW_T(u) - 0x84))
#define ULAW(c)   ULAW_V((~(c)) & 0xFF)

/* A-law: even bits are inverted on the line (xor 0x55); sign bit set means positive.
 * Magnitude = mantissa * 16 + 8 in segment 0, (mantissa * 16 + 264) << (segment - 1) above,
 * in 16-bit scale (13-bit law << 3). */
#define ALAW_M(t)                                                                                  \
    ((((t)&0x70) == 0) ? (((t)&0x0F) << 4) + 8                                                     \
                       : (((((t)&0x0F) << 4) + 264) << (((t)&0x70) >> 4)) >> 1)
#define ALAW_V(t) ((int16_t)(((t)&0x80) ? ALAW_M(t) : -ALAW_M(t)))
#define ALAW(c)   ALAW_V((c) ^ 0x55)

#define R4(F, b)  F(b), F((b) + 1), F((b) + 2), F((b) + 3)
#define R16(F, b) R4(F, b), R4(F, (b) + 4), R4(F, (b) + 8), R4(F, (b) + 12)
#define R64(F, b) R16(F, b), R16(F, (b) + 16), R16(F, (b) + 32), R16(F, (b) + 48)
#define R256(F)   R64(F, 0), R64(F, 64), R64(F, 128), R64(F, 192)

const int16_t g711_ulaw_table[256] = {R256(ULAW)};
const int16_t g711_alaw_table[256] = {R256(ALAW)};

/* Index of the highest set bit of v (v > 0): one instruction (bsr, clz) where the compiler has it.
 */
static inline int top_bit(int32_t v) {
    return 31 - __builtin_clz((unsigned)v);
}

uint8_t g711_ulaw_encode(int16_t pcm) {
    int32_t x = pcm;
    uint8_t sign = 0;
    if (x < 0) {
        x = -x;
        sign = 0x80;
    }
    if (x > 32635) x = 32635; /* keeps the biased magnitude inside segment 7 */
    x += 0x84;
    int seg = top_bit(x) - 7; /* biased magnitude of segment s lies in [128 << s, 256 << s) */
    int mant = (x >> (seg + 3)) & 0x0F;
    return (uint8_t) ~(sign | (seg << 4) | mant);
}

uint8_t g711_alaw_encode(int16_t pcm) {
    int32_t x = pcm;
    uint8_t mask = 0xD5; /* positive: sign bit set, then the even-bit inversion */
    if (x < 0) {
        x = -x;
        mask = 0x55;
    }
    if (x > 32767) x = 32767;
    int seg, mant;
    if (x < 256) {
        seg = 0;
        mant = x >> 4;
    } else {
        seg = top_bit(x) - 7; /* segment s >= 1 spans [128 << s, 256 << s) */
        mant = (x >> (seg + 3)) & 0x0F;
    }
    return (uint8_t)(((seg << 4) | mant) ^ mask);
}

void g711_ulaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = g711_ulaw_encode(pcm[i]);
}

void g711_ulaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm) {
    for (size_t i = 0; i < n; i++) pcm[i] = g711_ulaw_table[in[i]];
}

void g711_alaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = g711_alaw_encode(pcm[i]);
}

void g711_alaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm) {
    for (size_t i = 0; i < n; i++) pcm[i] = g711_alaw_table[in[i]];
}
