/* G.722 at 64 kbit/s, written from the block description of ITU-T G.722 (QMF, ADPCM blocks). */
#include "g722.h"
#include "fixed.h"

#include <stdlib.h>
#include <string.h>

/* QMF coefficients h0..h23 in Q13 (G.722 table of the transmit and receive QMF). */
static const int16_t qmf[24] = {3,    -11, -11,  53,   12,  -156, 32,   362, -210, -805, 951, 3876,
                                3876, 951, -805, -210, 362, 32,   -156, 12,  53,   -11,  -11, 3};

/* Lower band, 6-bit quantiser: decision levels of the magnitude intervals 1..30 (interval m is
 * [q6[m-1], q6[m]) times the scale factor / 4096; interval 30 is open above). */
static const int16_t q6[30] = {0,    35,   72,   110,  150,  190,  233,  276,  323,  370,
                               422,  473,  530,  587,  650,  714,  786,  858,  940,  1023,
                               1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919};
/* Output level of each interval 1..30 of the 6-bit inverse quantiser (index 0 unused). */
static const int16_t qq6[31] = {0,     136,   432,   728,   1040,  1360,  1688,  2032,
                                2400,  2776,  3168,  3576,  4008,  4464,  4944,  5456,
                                6000,  6576,  7192,  7856,  8576,  9360,  10232, 11192,
                                12280, 13512, 14984, 16704, 19008, 21904, 24808};
/* 4-bit inverse quantiser (the 6-bit code without its 2 low bits), indexed by that code. */
static const int16_t qq4[16] = {0,     -20456, -12896, -8968, -6288, -4240, -2584, -1200,
                                20456, 12896,  8968,   6288,  4240,  2584,  1200,  0};
/* Log scale factor multipliers, indexed by the 4-bit code's magnitude class. */
static const int16_t wl[8] = {-60, -30, 58, 172, 334, 538, 1198, 3042};
static const uint8_t rl42[16] = {0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0};
/* Higher band: 2-bit inverse quantiser and log scale multipliers, indexed by the code. */
static const int16_t qq2[4] = {-7408, -1616, 7408, 1616};
static const int16_t wh[4] = {798, -214, 798, -214};
/* ILB: round(2048 * 2^(i/32)), the mantissa of the scale factor's antilog. */
static const int16_t ilb[32] = {2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543,
                                2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228,
                                3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008};

/* State of one sub-band's ADPCM (shared by encoder and decoder). */
struct band {
    int32_t s, sp, sz;  /* signal estimate, its pole and zero parts */
    int32_t r1, r2;     /* reconstructed signal, delayed by 1 and 2 */
    int32_t p1, p2;     /* partially reconstructed signal, delayed */
    int32_t a1, a2;     /* pole coefficients (Q14) */
    int32_t b[6], d[6]; /* zero coefficients (Q14) and delayed quantised differences */
    int32_t nb, det;    /* log scale factor and scale factor */
};

struct g722_encoder {
    struct band lo, hi;
    int32_t x[24]; /* input history, newest first */
};

struct g722_decoder {
    struct band lo, hi;
    int32_t xd[12], xs[12]; /* receive QMF histories, newest first */
};

static void band_reset(struct band *b, int32_t det) {
    memset(b, 0, sizeof *b);
    b->det = det;
}

/* Antilog of a log scale factor: ILB mantissa shifted by its exponent, times 4. */
static int32_t scale(int32_t nb, int bias) {
    int32_t m = ilb[(nb >> 6) & 31];
    int sh = bias - (nb >> 11);
    return SHL32(sh >= 0 ? m >> sh : SHL32(m, -sh), 2);
}

static void adapt_lo(struct band *b, int code4) {
    b->nb = CLAMP32(MULT16_16_Q15(b->nb, 32512) + wl[rl42[code4]], 0, 18432);
    b->det = scale(b->nb, 8);
}

static void adapt_hi(struct band *b, int code2) {
    b->nb = CLAMP32(MULT16_16_Q15(b->nb, 32512) + wh[code2], 0, 22528);
    b->det = scale(b->nb, 10);
}

/* Predictor update from the quantised difference d (block 4 of G.722). */
static void predict(struct band *b, int32_t d) {
    int32_t r = SAT16(b->s + d);  /* reconstructed signal */
    int32_t p = SAT16(b->sz + d); /* partially reconstructed signal */
    int sg0 = p < 0, sg1 = b->p1 < 0, sg2 = b->p2 < 0;

    int32_t f = SAT16(SHL32(b->a1, 2)); /* second pole: leak, sign-sign LMS, |a2| <= 0.75 */
    int32_t a2 = SHR32(sg0 == sg1 ? -f : f, 7) + (sg0 == sg2 ? 128 : -128);
    a2 = CLAMP32(a2 + MULT16_16_Q15(b->a2, 32512), -12288, 12288);
    int32_t a1 = (sg0 == sg1 ? 192 : -192) + MULT16_16_Q15(b->a1, 32640); /* first pole */
    a1 = CLAMP32(a1, a2 - 15360, 15360 - a2);

    int32_t step = d == 0 ? 0 : 128; /* zeros: leak and sign-sign LMS */
    for (int i = 0; i < 6; i++)
        b->b[i] = ((d < 0) == (b->d[i] < 0) ? step : -step) + MULT16_16_Q15(b->b[i], 32640);

    memmove(b->d + 1, b->d, 5 * sizeof b->d[0]);
    b->d[0] = d;
    b->r2 = b->r1;
    b->r1 = r;
    b->p2 = b->p1;
    b->p1 = p;
    b->a1 = a1;
    b->a2 = a2;

    b->sp = SAT16(MULT16_16_Q15(a1, SAT16(2 * b->r1)) + MULT16_16_Q15(a2, SAT16(2 * b->r2)));
    int32_t sz = 0;
    for (int i = 0; i < 6; i++) sz += MULT16_16_Q15(b->b[i], SAT16(2 * b->d[i]));
    b->sz = SAT16(sz);
    b->s = SAT16(b->sp + b->sz);
}

/* Code of lower-band interval m (1..30) and sign (G.722 table of the 6-bit quantiser). */
static int lo_code(int m, int negative) {
    if (!negative) return 62 - m;
    return m <= 2 ? 64 - m : 34 - m;
}

/* Signed output level of a 6-bit code (the inverse of lo_code; codes 0-3 are not sent). */
static int32_t lo_level6(int code) {
    if (code >= 32 && code <= 61) return qq6[62 - code];
    if (code >= 62) return -qq6[64 - code];
    if (code >= 4) return -qq6[34 - code];
    return -qq6[1];
}

static int encode_lo(struct band *b, int32_t xl) {
    int32_t el = SAT16(xl - b->s);
    int32_t wd = el >= 0 ? el : -(el + 1);
    int m = 1;
    while (m < 30 && wd >= SHR32(MULT16_16(q6[m], b->det), 12)) m++;
    int code = lo_code(m, el < 0);
    int32_t d = MULT16_16_Q15(b->det, qq4[code >> 2]);
    adapt_lo(b, code >> 2);
    predict(b, d);
    return code;
}

static int encode_hi(struct band *b, int32_t xh) {
    int32_t eh = SAT16(xh - b->s);
    int32_t wd = eh >= 0 ? eh : -(eh + 1);
    int big = wd >= SHR32(MULT16_16(564, b->det), 12);
    int code = eh < 0 ? (big ? 0 : 1) : (big ? 2 : 3);
    int32_t d = MULT16_16_Q15(b->det, qq2[code]);
    adapt_hi(b, code);
    predict(b, d);
    return code;
}

g722_encoder *g722_encoder_create(void) {
    g722_encoder *e = malloc(sizeof *e);
    if (e) g722_encoder_reset(e);
    return e;
}

void g722_encoder_destroy(g722_encoder *e) {
    free(e);
}

void g722_encoder_reset(g722_encoder *e) {
    band_reset(&e->lo, 32);
    band_reset(&e->hi, 8);
    memset(e->x, 0, sizeof e->x);
}

size_t g722_encode(g722_encoder *e, const int16_t *pcm, size_t n, uint8_t *out) {
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        memmove(e->x + 2, e->x, 22 * sizeof e->x[0]);
        e->x[1] = pcm[i];
        e->x[0] = pcm[i + 1];
        int32_t sa = 0, sb = 0; /* even and odd polyphase halves of the transmit QMF */
        for (int j = 0; j < 24; j += 2) {
            sa += MULT16_16(qmf[j], e->x[j]);
            sb += MULT16_16(qmf[j + 1], e->x[j + 1]);
        }
        int32_t xl = SAT16(SHR32(sa + sb, 14)), xh = SAT16(SHR32(sa - sb, 14));
        int il = encode_lo(&e->lo, xl);
        int ih = encode_hi(&e->hi, xh);
        out[k++] = (uint8_t)(ih << 6 | il);
    }
    return k;
}

g722_decoder *g722_decoder_create(void) {
    g722_decoder *d = malloc(sizeof *d);
    if (d) g722_decoder_reset(d);
    return d;
}

void g722_decoder_destroy(g722_decoder *d) {
    free(d);
}

void g722_decoder_reset(g722_decoder *d) {
    band_reset(&d->lo, 32);
    band_reset(&d->hi, 8);
    memset(d->xd, 0, sizeof d->xd);
    memset(d->xs, 0, sizeof d->xs);
}

size_t g722_decode(g722_decoder *d, const uint8_t *in, size_t n, int16_t *pcm) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int il = in[i] & 0x3F, ih = in[i] >> 6;
        struct band *lo = &d->lo, *hi = &d->hi;
        int32_t rl = CLAMP32(SAT16(lo->s + MULT16_16_Q15(lo->det, lo_level6(il))), -16384, 16383);
        int32_t dl = MULT16_16_Q15(lo->det, qq4[il >> 2]); /* the predictor follows 4-bit core */
        adapt_lo(lo, il >> 2);
        predict(lo, dl);
        int32_t dh = MULT16_16_Q15(hi->det, qq2[ih]);
        int32_t rh = CLAMP32(SAT16(hi->s + dh), -16384, 16383);
        adapt_hi(hi, ih);
        predict(hi, dh);

        memmove(d->xd + 1, d->xd, 11 * sizeof d->xd[0]);
        memmove(d->xs + 1, d->xs, 11 * sizeof d->xs[0]);
        d->xd[0] = rl - rh;
        d->xs[0] = rl + rh;
        int32_t ya = 0, yb = 0; /* receive QMF: even taps on the difference, odd on the sum */
        for (int j = 0; j < 12; j++) {
            ya += qmf[2 * j] * d->xd[j];
            yb += qmf[2 * j + 1] * d->xs[j];
        }
        pcm[k++] = SAT16(SHR32(ya, 11));
        pcm[k++] = SAT16(SHR32(yb, 11));
    }
    return k;
}
