#include "dtmf_detect.h"

#include <string.h>

/* 2 cos(2 pi f / 8000) in Q14 for the rows 697, 770, 852, 941 Hz and the columns 1209, 1336,
 * 1477, 1633 Hz. */
static const int32_t COEF[8] = {27980, 26956, 25701, 24219, 19073, 16325, 13085, 9315};

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

/* Goertzel power of tone i at the end of a block: s1^2 + s2^2 - c s1 s2. */
static int64_t tone_power(const dtmf_detector *d, int i) {
    int64_t s1 = d->s1[i], s2 = d->s2[i];
    int64_t cs1 = (COEF[i] * s1) / 16384;
    int64_t p = s1 * s1 + s2 * s2 - cs1 * s2;
    return p < 0 ? 0 : p;
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
    int64_t p[8];
    for (int i = 0; i < 8; i++) p[i] = tone_power(d, i);
    int r = peak(p), c = peak(p + 4);
    if (r < 0 || c < 0) return 0;
    int64_t pr = p[r], pc = p[4 + c];
    if (pr < MIN_POWER || pc < MIN_POWER) return 0;
    if (pr * 10 > pc * TWIST_NORMAL_X10 || pc * 10 > pr * TWIST_REVERSE_X10) return 0;
    /* Pure pair: 2 (pr + pc) = DTMF_BLOCK * energy. Here pr, pc < 2^42 and energy < 2^37. */
    if ((pr + pc) * 200 < d->energy * DTMF_BLOCK * SHARE_PERCENT) return 0;
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
    memset(d->s1, 0, sizeof d->s1);
    memset(d->s2, 0, sizeof d->s2);
    d->energy = 0;
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

/* One sample at 8 kHz; returns a key whose press a finished block completed, or 0. */
static char feed8(dtmf_detector *d, int32_t x) {
    for (int i = 0; i < 8; i++) {
        int32_t s0 = x + (int32_t)(((int64_t)COEF[i] * d->s1[i]) / 16384) - d->s2[i];
        d->s2[i] = d->s1[i];
        d->s1[i] = s0;
    }
    d->energy += (int64_t)x * x;
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
    for (size_t i = 0; i < n; i++) {
        int16_t x = pcm ? pcm[i] : 0;
        k = rate == 16000 ? feed16(d, x) : feed8(d, x);
        if (k) pressed = k;
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
