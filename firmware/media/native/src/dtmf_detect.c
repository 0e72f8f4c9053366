#include "dtmf_detect.h"

#include <string.h>

#include "dtmf_tables.h"

static const char KEYS[4][4] = {
    {'1', '2', '3', 'A'},
    {'4', '5', '6', 'B'},
    {'7', '8', '9', 'C'},
    {'*', '0', '#', 'D'},
};

/* A tone of amplitude A over the block gives a Goertzel power of about (A * DTMF_BLOCK / 2)^2. */
#define MIN_POWER                                                                                  \
    ((int64_t)DTMF_MIN_AMPLITUDE * DTMF_BLOCK / 2 * ((int64_t)DTMF_MIN_AMPLITUDE * DTMF_BLOCK / 2))

/* Twist limits as power ratios in tenths: 8 dB (column weaker) and 4 dB (row weaker). */
#define TWIST_NORMAL_X10  63
#define TWIST_REVERSE_X10 25
/* Each tone stands this far above the others of its group: 8 dB, in tenths. */
#define PEAK_X10 63
/* Share of the block's energy the two tones carry, in percent. A pure pair carries about 90 %
 * of it in these short blocks, a pair 1.5 % off frequency 80 %; the loudest pairs of partials in
 * synthetic speech (espeak-ng, many voices and pitches) reach 50 %. */
#define SHARE_PERCENT 70

void dtmf_detector_reset(dtmf_detector *d) {
    memset(d, 0, sizeof *d);
}

/* The power of tone i in the block q (the samples / 4): |X|^2 of its Fourier bin, where
 * X = sum x[n] e^(-i w n). With |q| <= 2^13, the tables' |values| <= 2^11 and DTMF_BLOCK < 2^7,
 * each dot product stays within 31 bits; they are the bin times 2^9. */
static int64_t tone_power(const int16_t *q, int i) {
    int32_t re = 0, im = 0;
    for (int n = 0; n < DTMF_BLOCK_PADDED; n++) {
        re += (int32_t)q[n] * DTMF_COS_Q11[i][n];
        im += (int32_t)q[n] * DTMF_SIN_Q11[i][n];
    }
    return ((int64_t)re * re + (int64_t)im * im) >> 18;
}

/* Sum of squares of the block's samples. */
static int64_t block_energy(const int16_t *x) {
    int64_t e = 0;
    for (int n = 0; n < DTMF_BLOCK; n++) e += (int32_t)x[n] * x[n];
    return e;
}

/* Index of the strongest of four powers, or -1 if it does not stand PEAK above the other three. */
static int peak(const int64_t *p) {
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (p[i] > p[best]) best = i;
    for (int i = 0; i < 4; i++)
        if (i != best && p[i] * PEAK_X10 > p[best] * 10) return -1;
    return best;
}

/* The key the finished block holds, or 0; *row and *col get its tones' powers / 2^16. */
static char block_key(const dtmf_detector *d, int64_t *row, int64_t *col) {
    /* No bin holds more than DTMF_BLOCK times the block's energy (Cauchy-Schwarz): a block too
     * quiet for even one tone of MIN_POWER (with a factor 2 for the tables' rounding) is no key,
     * which spares the transform for the quiet moments of every call. */
    int64_t energy = block_energy(d->block);
    if (energy * DTMF_BLOCK * 2 < MIN_POWER) return 0;
    int16_t q[DTMF_BLOCK_PADDED];
    for (int n = 0; n < DTMF_BLOCK_PADDED; n++) q[n] = (int16_t)(d->block[n] >> 2);
    int64_t p[8];
    for (int i = 0; i < 8; i++) p[i] = tone_power(q, i);
    int r = peak(p), c = peak(p + 4);
    if (r < 0 || c < 0) return 0;
    int64_t pr = p[r], pc = p[4 + c];
    if (pr < MIN_POWER || pc < MIN_POWER) return 0;
    if (pr * 10 > pc * TWIST_NORMAL_X10 || pc * 10 > pr * TWIST_REVERSE_X10) return 0;
    /* Pure pair: 2 (pr + pc) = DTMF_BLOCK * energy. Here pr, pc < 2^44 and energy < 2^37. */
    if ((pr + pc) * 200 < energy * DTMF_BLOCK * SHARE_PERCENT) return 0;
    *row = pr / 65536;
    *col = pc / 65536;
    return KEYS[r][c];
}

/* Whether a block's twist is within 3 dB of the previous block's: a key's tones keep their
 * levels, while two partials of a voice rarely do. The tone's start or end within a block
 * lowers both tones alike. Powers are at most 2^28 here, so the products fit. */
static int steady(const dtmf_detector *d, int64_t row, int64_t col) {
    int64_t a = row * d->last_col, b = col * d->last_row;
    return a <= 2 * b && b <= 2 * a;
}

/* Ends a block: updates the press state; returns the key whose press it completes, or 0. */
static char end_block(dtmf_detector *d) {
    int64_t row = 0, col = 0;
    char key = block_key(d, &row, &col);
    d->n = 0;
    char pressed = 0;
    if (key && key == d->last && steady(d, row, col)) {
        if (d->hits < DTMF_HITS) d->hits++;
    } else {
        d->hits = key ? 1 : 0;
    }
    d->last = key;
    d->last_row = row;
    d->last_col = col;
    if (key && key != d->current && d->hits >= DTMF_HITS) {
        d->current = key;
        pressed = key;
    }
    if (d->current && key != d->current) {
        if (++d->misses >= 2) d->current = 0;
    } else {
        d->misses = 0;
    }
    return pressed;
}

/* One sample at 8 kHz from the half-band filter; returns a key whose press a finished block
 * completed, or 0. */
static char feed8(dtmf_detector *d, int32_t x) {
    d->block[d->n] = (int16_t)(x > INT16_MAX ? INT16_MAX : x < INT16_MIN ? INT16_MIN : x);
    return ++d->n == DTMF_BLOCK ? end_block(d) : 0;
}

/* Half-band low-pass (-1 0 9 16 9 0 -1) / 32 before keeping every other sample: it passes the
 * DTMF band and keeps 6.4-7.3 kHz, which would fold onto it, about 40 dB down. */
static char feed16(dtmf_detector *d, int16_t x) {
    const int16_t *h = d->hist;
    char key = 0;
    if (d->phase) {
        int32_t y = -(int32_t)h[0] + 9 * (int32_t)h[2] + 16 * (int32_t)h[3] + 9 * (int32_t)h[4] -
                    (int32_t)x;
        key = feed8(d, y / 32);
    }
    d->phase ^= 1u;
    memmove(d->hist, d->hist + 1, 5 * sizeof d->hist[0]);
    d->hist[5] = x;
    return key;
}

char dtmf_detect(dtmf_detector *d, const int16_t *pcm, size_t n, unsigned rate) {
    if (!pcm && !d->current && !d->last) { /* no audio and no key: nothing to hear (idle legs) */
        dtmf_detector_reset(d);
        return 0;
    }
    char pressed = 0, k;
    if (rate == 16000) {
        for (size_t i = 0; i < n; i++)
            if ((k = feed16(d, pcm ? pcm[i] : 0)) != 0) pressed = k;
        return pressed;
    }
    for (size_t i = 0; i < n;) { /* 8 kHz: the samples go into the block as they are */
        size_t take = n - i < DTMF_BLOCK - d->n ? n - i : DTMF_BLOCK - d->n;
        if (pcm)
            memcpy(d->block + d->n, pcm + i, take * sizeof *pcm);
        else
            memset(d->block + d->n, 0, take * sizeof *pcm);
        d->n += (unsigned)take;
        i += take;
        if (d->n == DTMF_BLOCK && (k = end_block(d)) != 0) pressed = k;
    }
    return pressed;
}

/* Whether a press of key, reported by the other source and last alive at then, absorbs this one. */
static int absorbs(char other_key, int *other_paired, uint64_t then, char key, uint64_t now) {
    if (!other_key || other_key != key || *other_paired) return 0;
    if (now - then > DTMF_PAIR_US) return 0;
    *other_paired = 1;
    return 1;
}

char dtmf_sources_event(dtmf_sources *s, char key, char pressed, uint64_t now_us) {
    if (pressed) {
        int paired = absorbs(s->tone_key, &s->tone_paired, s->tone_us, pressed, now_us);
        s->event_key = pressed;
        s->event_paired = paired;
        s->event_us = now_us;
        return paired ? 0 : pressed;
    }
    if (key && key == s->event_key) s->event_us = now_us;
    return 0;
}

char dtmf_sources_tone(dtmf_sources *s, char heard, char pressed, uint64_t now_us) {
    if (pressed) {
        int paired = absorbs(s->event_key, &s->event_paired, s->event_us, pressed, now_us);
        s->tone_key = pressed;
        s->tone_paired = paired;
        s->tone_us = now_us;
        return paired ? 0 : pressed;
    }
    if (heard && heard == s->tone_key) s->tone_us = now_us;
    return 0;
}
