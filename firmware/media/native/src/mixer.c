/* Conference mixer: sum of talkers, sum - own per listener, one soft limit + saturation.
 *
 * The sum is built as the frames are put: one pass keeps the member's frame, adds it to the sum
 * and notes its peak. When the peaks of a round's talkers add up to no more than the limiter's
 * knee (a quiet round, almost every round of speech), no sum of some of them can go beyond it, so
 * the whole round is exact in 16-bit arithmetic taken modulo 2^16: the sum is kept that way,
 * sum - own is one 16-bit pass per talker, and the shared frame is the sum itself. A loud round
 * (peaks beyond the knee) is summed again in 32 bits from the kept frames and goes through the
 * soft limit. mixer_mix only swaps the sum being built with the one being heard. */
#include "mixer.h"
#include "fixed.h"

#include <stdlib.h>
#include <string.h>

/* The per-sample loops, built twice on x86-64 (baseline SSE2 and AVX2) with the better one chosen
 * when the program loads; other targets (arm64: NEON is baseline) build them once. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

struct member {
    int16_t in[MIXER_MAX_FRAME];
    int16_t out[MIXER_MAX_FRAME];
    uint8_t used, muted;
    uint8_t loud;       /* its last frame went beyond the knee: the next is limited in one pass */
    uint32_t put_round; /* round in which the member last offered a frame */
    int32_t peak;       /* largest |sample| of its frame in put_round */
};

/* One round's sum: modulo 2^16 as it is built, in 32 bits once a loud round is mixed. */
struct round_sum {
    uint16_t wrap[MIXER_MAX_FRAME];
    int32_t wide[MIXER_MAX_FRAME];
    int32_t peaks; /* sum of the talkers' peaks (saturated at INT32_MAX) */
    int talkers;
};

struct mixer {
    struct member *members;
    int count, cap;
    int frame, knee, talkers;
    int loud;                    /* the last shared frame went beyond the knee */
    int quiet;                   /* the heard round is exact in 16 bits (peaks within the knee) */
    int shared_ready;            /* shared holds the heard round's frame (loud rounds only) */
    uint32_t round, mixed_round; /* puts go to round; gets read mixed_round */
    struct round_sum *acc;       /* the round being put */
    struct round_sum *heard;     /* the last mixed round, which gets read */
    struct round_sum sums[2];
    int16_t shared[MIXER_MAX_FRAME];
};

int16_t mixer_limit(int32_t x, int32_t knee) {
    /* Rational soft knee y = k + e*r/(e+r): slope 1 at the knee, approaches k + r. */
    int32_t r, e;
    if (x > knee) {
        r = INT16_MAX - knee;
        e = x - knee;
        int64_t y = (int64_t)e * r;
        return SAT16(knee + (int32_t)((y + (e + r) / 2) / ((int64_t)e + r)));
    }
    if (x < -knee) {
        r = -INT16_MIN - knee;
        e = -knee - x;
        int64_t y = (int64_t)e * r;
        return SAT16(-knee - (int32_t)((y + (e + r) / 2) / ((int64_t)e + r)));
    }
    return (int16_t)x;
}

mixer *mixer_create(int frame_size) {
    if (frame_size < 1 || frame_size > MIXER_MAX_FRAME) return NULL;
    mixer *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->frame = frame_size;
    m->knee = MIXER_DEFAULT_KNEE;
    m->round = 1;
    m->acc = &m->sums[0];
    m->heard = &m->sums[1];
    return m;
}

void mixer_destroy(mixer *m) {
    if (!m) return;
    free(m->members);
    free(m);
}

int mixer_ctl(mixer *m, int request, void *arg) {
    int *v = arg;
    switch (request) {
    case MIXER_SET_FRAME_SIZE:
        if (*v < 1 || *v > MIXER_MAX_FRAME) return -1;
        m->frame = *v;
        return 0;
    case MIXER_GET_FRAME_SIZE:
        *v = m->frame;
        return 0;
    case MIXER_SET_KNEE:
        if (*v < 1 || *v > INT16_MAX) return -1;
        m->knee = *v;
        return 0;
    case MIXER_GET_KNEE:
        *v = m->knee;
        return 0;
    case MIXER_GET_TALKERS:
        *v = m->talkers;
        return 0;
    default:
        return -1;
    }
}

int mixer_add(mixer *m) {
    for (int i = 0; i < m->count; i++)
        if (!m->members[i].used) {
            memset(&m->members[i], 0, sizeof m->members[i]);
            m->members[i].used = 1;
            return i;
        }
    if (m->count == m->cap) {
        int cap = m->cap ? m->cap * 2 : 8;
        struct member *p = realloc(m->members, (size_t)cap * sizeof *p);
        if (!p) return -1;
        m->members = p;
        m->cap = cap;
    }
    memset(&m->members[m->count], 0, sizeof m->members[0]);
    m->members[m->count].used = 1;
    return m->count++;
}

/* The largest and the smallest sample of a frame (vectorised by the compiler). */
static int16_t frame_max(const int16_t *x, int n) {
    int16_t hi = 0;
    for (int j = 0; j < n; j++) hi = x[j] > hi ? x[j] : hi;
    return hi;
}
static int16_t frame_min(const int16_t *x, int n) {
    int16_t lo = 0;
    for (int j = 0; j < n; j++) lo = x[j] < lo ? x[j] : lo;
    return lo;
}

void mixer_remove(mixer *m, int id) {
    if (id < 0 || id >= m->count || !m->members[id].used) return;
    struct member *p = &m->members[id];
    if (p->put_round == m->round) { /* its frame is already in the round being put: taken out */
        for (int j = 0; j < m->frame; j++) m->acc->wrap[j] -= (uint16_t)p->in[j];
        m->acc->talkers--;
        m->acc->peaks -= p->peak;
    }
    p->used = 0;
}

void mixer_set_muted(mixer *m, int id, int muted) {
    if (id >= 0 && id < m->count) m->members[id].muted = muted != 0;
}

/* Adds a peak to the round's total, saturating instead of wrapping. */
static void add_peak(struct round_sum *r, int32_t peak) {
    r->peaks = r->peaks > INT32_MAX - peak ? INT32_MAX : r->peaks + peak;
}

VECTOR_CLONES void mixer_put(mixer *m, int id, const int16_t *pcm) {
    if (id < 0 || id >= m->count) return;
    struct member *p = &m->members[id];
    if (!p->used || p->muted) return;
    int n = m->frame;
    struct round_sum *r = m->acc;
    uint16_t *restrict wrap = r->wrap;
    int16_t *restrict in = p->in;
    const int16_t *restrict x = pcm;
    int16_t hi = 0, lo = 0;
    if (p->put_round == m->round) { /* a second frame this round replaces the first */
        for (int j = 0; j < n; j++) {
            wrap[j] = (uint16_t)(wrap[j] + (uint16_t)x[j] - (uint16_t)in[j]);
            in[j] = x[j];
        }
        r->peaks = r->peaks == INT32_MAX ? INT32_MAX : r->peaks - p->peak;
        hi = frame_max(in, n);
        lo = frame_min(in, n);
    } else if (r->talkers++ == 0) { /* the round's first frame starts the sum: no clearing pass */
        for (int j = 0; j < n; j++) {
            int16_t v = x[j];
            in[j] = v;
            wrap[j] = (uint16_t)v;
            hi = v > hi ? v : hi;
            lo = v < lo ? v : lo;
        }
    } else {
        for (int j = 0; j < n; j++) {
            int16_t v = x[j];
            in[j] = v;
            wrap[j] = (uint16_t)(wrap[j] + (uint16_t)v);
            hi = v > hi ? v : hi;
            lo = v < lo ? v : lo;
        }
    }
    p->put_round = m->round;
    p->peak = hi > -(int32_t)lo ? hi : -(int32_t)lo;
    add_peak(r, p->peak);
}

/* Whether x lies beyond the soft limit's knee (|x| > knee), as one unsigned comparison the compiler
 * vectorises. */
#define BEYOND(x, knee) ((uint32_t)((x) + (knee)) > 2u * (uint32_t)(knee))

/* The soft limit of one sample, noting in *beyond when it was beyond the knee (only there: no cost
 * within it). */
static inline int16_t limit_noting(int32_t x, int32_t knee, uint32_t *beyond) {
    if (x <= knee && x >= -knee) return (int16_t)x;
    *beyond = 1;
    return mixer_limit(x, knee);
}

void mixer_mix(mixer *m) {
    struct round_sum *r = m->acc;
    int n = m->frame;
    if (r->talkers == 0) {
        memset(r->wrap, 0, (size_t)n * sizeof r->wrap[0]);
        r->peaks = 0;
    }
    m->quiet = r->peaks <= m->knee;
    if (!m->quiet) { /* loud: the exact sum in 32 bits, from the frames kept */
        int first = 1;
        for (int i = 0; i < m->count; i++) {
            struct member *p = &m->members[i];
            if (!p->used || p->put_round != m->round) continue;
            if (first)
                for (int j = 0; j < n; j++) r->wide[j] = p->in[j];
            else
                for (int j = 0; j < n; j++) r->wide[j] += p->in[j];
            first = 0;
        }
    }
    m->heard = r;
    m->acc = r == &m->sums[0] ? &m->sums[1] : &m->sums[0];
    m->acc->talkers = 0;
    m->acc->peaks = 0;
    m->talkers = r->talkers;
    m->shared_ready = 0;
    m->mixed_round = m->round++;
}

/* The frame every non-talker hears. A quiet round's is its sum as it stands; a loud round's is made
 * once, on first use: one narrowing pass that notes whether any sample went beyond the knee, and
 * the soft limit sample by sample only for a frame that did. While the room is loud (the last
 * frame went beyond), the soft limit runs at once. */
static const int16_t *shared_frame(mixer *m) {
    if (m->quiet) {
        m->loud = 0;
        return (const int16_t *)m->heard->wrap;
    }
    if (m->shared_ready) return m->shared;
    int n = m->frame;
    const int32_t *sum = m->heard->wide;
    uint32_t beyond = 0;
    if (!m->loud)
        for (int j = 0; j < n; j++) {
            m->shared[j] = (int16_t)sum[j];
            beyond |= BEYOND(sum[j], m->knee);
        }
    if (beyond || m->loud) {
        beyond = 0;
        for (int j = 0; j < n; j++) m->shared[j] = limit_noting(sum[j], m->knee, &beyond);
    }
    m->loud = beyond != 0;
    m->shared_ready = 1;
    return m->shared;
}

/* What a member hears in a quiet round: sum - own exactly, in 16 bits; with extra (only for it),
 * widened and limited like a loud frame, since extra's level is not known. */
VECTOR_CLONES static const int16_t *quiet_frame(mixer *m, struct member *p, int talked,
                                                const int16_t *extra) {
    int n = m->frame, knee = m->knee;
    const uint16_t *restrict wrap = m->heard->wrap;
    const int16_t *restrict in = p->in;
    int16_t *restrict out = p->out;
    if (!extra) { /* a talker without extra */
        for (int j = 0; j < n; j++) out[j] = (int16_t)(uint16_t)(wrap[j] - (uint16_t)in[j]);
        p->loud = 0;
        return out;
    }
    uint32_t beyond = 0;
    for (int j = 0; j < n; j++) {
        int32_t v = (int16_t)(uint16_t)(wrap[j] - (talked ? (uint16_t)in[j] : 0)) + extra[j];
        out[j] = (int16_t)v;
        beyond |= BEYOND(v, knee);
    }
    if (beyond) {
        beyond = 0;
        for (int j = 0; j < n; j++)
            out[j] = limit_noting((int16_t)(uint16_t)(wrap[j] - (talked ? (uint16_t)in[j] : 0)) +
                                      extra[j],
                                  knee, &beyond);
    }
    p->loud = beyond != 0;
    return out;
}

const int16_t *mixer_get(mixer *m, int id, const int16_t *extra, int *shared) {
    *shared = 0;
    if (id < 0 || id >= m->count || !m->members[id].used) return shared_frame(m);
    struct member *p = &m->members[id];
    int talked = p->put_round == m->mixed_round;
    if (!talked && !extra) {
        *shared = 1;
        return shared_frame(m);
    }
    if (m->quiet) return quiet_frame(m, p, talked, extra);
    /* What this member hears: everybody but itself, plus what is played to it alone; narrowed in
     * one pass as for the shared frame, the soft limit only for a frame that went beyond the knee.
     */
    int n = m->frame, knee = m->knee;
    const int32_t *sum = m->heard->wide;
    uint32_t beyond = 0;
    if (p->loud) {
        /* loud: the soft limit at once */
    } else if (talked && !extra) {
        for (int j = 0; j < n; j++) {
            int32_t v = sum[j] - p->in[j];
            p->out[j] = (int16_t)v;
            beyond |= BEYOND(v, knee);
        }
    } else {
        for (int j = 0; j < n; j++) {
            int32_t v = sum[j] - (talked ? p->in[j] : 0) + (extra ? extra[j] : 0);
            p->out[j] = (int16_t)v;
            beyond |= BEYOND(v, knee);
        }
    }
    if (beyond || p->loud) {
        beyond = 0;
        for (int j = 0; j < n; j++)
            p->out[j] = limit_noting(sum[j] - (talked ? p->in[j] : 0) + (extra ? extra[j] : 0),
                                     knee, &beyond);
    }
    p->loud = beyond != 0;
    return p->out;
}
