/* Half-band FIR resampler, 8 <-> 16 kHz. */
#include "resample.h"
#include "fixed.h"

#include <stdlib.h>
#include <string.h>

#define SIDE 12             /* non-zero taps each side of the centre: offsets 1, 3, ..., 23 */
#define HIST (4 * SIDE - 1) /* 47: the filter span in 16 kHz samples */

/* Odd taps h[1], h[3], ..., h[23] of the half-band lowpass (centre tap 0.5), in Q15: a
 * Kaiser-windowed sinc (beta 6, cutoff fs/4), sin(pi n / 2) / (pi n) * w(n), scaled so each side
 * sums to exactly 8192 (DC gain 1). */
static const int16_t taps[SIDE] = {10378, -3318, 1831, -1150, 750, -489,
                                   311,   -189,  107,  -55,   23,  -7};

struct resampler {
    resample_direction dir;
    int16_t hist[HIST - 1]; /* the last inputs, oldest first */
};

resampler *resampler_create(resample_direction dir) {
    resampler *r = calloc(1, sizeof *r);
    if (r) r->dir = dir;
    return r;
}

void resampler_destroy(resampler *r) {
    free(r);
}

void resampler_reset(resampler *r) {
    memset(r->hist, 0, sizeof r->hist);
}

/* |acc| <= (2 * sum|taps| + 16384) * 32768 < 1.8e9: no int32 overflow. */
static size_t down(resampler *r, const int16_t *in, size_t n, int16_t *out) {
    int16_t buf[HIST - 1 + RESAMPLE_MAX_IN];
    memcpy(buf, r->hist, sizeof r->hist);
    memcpy(buf + HIST - 1, in, n * sizeof *in);
    size_t m = 0;
    for (size_t j = 1; j < n; j += 2) { /* one output per input pair, centred on buf[j + 23] */
        const int16_t *c = buf + j + 2 * SIDE - 1;
        int32_t acc = SHL32(c[0], 14);
        for (int t = 0; t < SIDE; t++)
            acc += taps[t] * (c[-(2 * t + 1)] + c[2 * t + 1]); /* pair sum is 17-bit */
        out[m++] = SAT16(PSHR32(acc, 15));
    }
    memcpy(r->hist, buf + n, sizeof r->hist);
    return m;
}

/* Interpolation: even outputs are the delayed input, odd ones the half-band midpoints (x2). */
static size_t up(resampler *r, const int16_t *in, size_t n, int16_t *out) {
    int16_t buf[2 * SIDE - 1 + RESAMPLE_MAX_IN];
    memcpy(buf, r->hist + HIST - 2 * SIDE, (2 * SIDE - 1) * sizeof *buf);
    memcpy(buf + 2 * SIDE - 1, in, n * sizeof *in);
    for (size_t j = 0; j < n; j++) {
        const int16_t *c = buf + j + SIDE - 1; /* midpoint between c[0] and c[1] */
        int32_t acc = 0;
        for (int t = 0; t < SIDE; t++) acc += taps[t] * (c[-t] + c[1 + t]);
        out[2 * j] = c[0];
        out[2 * j + 1] = SAT16(PSHR32(acc, 14));
    }
    memcpy(r->hist + HIST - 2 * SIDE, buf + n, (2 * SIDE - 1) * sizeof *buf);
    return 2 * n;
}

size_t resampler_process(resampler *r, const int16_t *in, size_t n, int16_t *out) {
    if (n > RESAMPLE_MAX_IN) return 0;
    if (r->dir == RESAMPLE_DOWN) return n % 2 ? 0 : down(r, in, n, out);
    return up(r, in, n, out);
}
