/* Conference mixer: int32 sum of talkers, sum - own per listener, one soft limit + saturation. */
#include "mixer.h"
#include "fixed.h"

#include <stdlib.h>
#include <string.h>

struct member {
    int16_t in[MIXER_MAX_FRAME];
    int16_t out[MIXER_MAX_FRAME];
    uint8_t used, muted;
    uint8_t loud;       /* its last frame went beyond the knee: the next is limited in one pass */
    uint32_t put_round; /* round in which the member last offered a frame */
};

struct mixer {
    struct member *members;
    int count, cap;
    int frame, knee, talkers;
    int loud;                    /* the last shared frame went beyond the knee */
    uint32_t round, mixed_round; /* puts go to round; gets read mixed_round */
    int32_t sum[MIXER_MAX_FRAME];
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

void mixer_remove(mixer *m, int id) {
    if (id >= 0 && id < m->count) m->members[id].used = 0;
}

void mixer_set_muted(mixer *m, int id, int muted) {
    if (id >= 0 && id < m->count) m->members[id].muted = muted != 0;
}

void mixer_put(mixer *m, int id, const int16_t *pcm) {
    if (id < 0 || id >= m->count) return;
    struct member *p = &m->members[id];
    if (!p->used || p->muted) return;
    memcpy(p->in, pcm, (size_t)m->frame * sizeof *pcm);
    p->put_round = m->round;
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
    int n = m->frame, talkers = 0;
    for (int i = 0; i < m->count; i++) {
        struct member *p = &m->members[i];
        if (!p->used || p->put_round != m->round) continue;
        /* the first talker's frame starts the sum: no clearing pass */
        if (talkers++ == 0)
            for (int j = 0; j < n; j++) m->sum[j] = p->in[j];
        else
            for (int j = 0; j < n; j++) m->sum[j] += p->in[j];
    }
    if (talkers == 0) memset(m->sum, 0, (size_t)n * sizeof m->sum[0]);
    /* Almost every frame stays within the knee, where the limit is the identity: one narrowing pass
     * that notes whether any sample went beyond it, and the soft limit sample by sample only for a
     * frame that did. While the room is loud (the last frame went beyond), the soft limit runs at
     * once. */
    uint32_t beyond = 0;
    if (!m->loud)
        for (int j = 0; j < n; j++) {
            m->shared[j] = (int16_t)m->sum[j];
            beyond |= BEYOND(m->sum[j], m->knee);
        }
    if (beyond || m->loud) {
        beyond = 0;
        for (int j = 0; j < n; j++) m->shared[j] = limit_noting(m->sum[j], m->knee, &beyond);
    }
    m->loud = beyond != 0;
    m->talkers = talkers;
    m->mixed_round = m->round++;
}

const int16_t *mixer_get(mixer *m, int id, const int16_t *extra, int *shared) {
    *shared = 0;
    if (id < 0 || id >= m->count || !m->members[id].used) return m->shared;
    struct member *p = &m->members[id];
    int talked = p->put_round == m->mixed_round;
    if (!talked && !extra) {
        *shared = 1;
        return m->shared;
    }
    /* What this member hears: everybody but itself, plus what is played to it alone; narrowed in
     * one pass as in mixer_mix, the soft limit only for a frame that went beyond the knee. */
    int n = m->frame, knee = m->knee;
    uint32_t beyond = 0;
    if (p->loud) {
        /* loud: the soft limit at once */
    } else if (talked && !extra) {
        for (int j = 0; j < n; j++) {
            int32_t v = m->sum[j] - p->in[j];
            p->out[j] = (int16_t)v;
            beyond |= BEYOND(v, knee);
        }
    } else {
        for (int j = 0; j < n; j++) {
            int32_t v = m->sum[j] - (talked ? p->in[j] : 0) + (extra ? extra[j] : 0);
            p->out[j] = (int16_t)v;
            beyond |= BEYOND(v, knee);
        }
    }
    if (beyond || p->loud) {
        beyond = 0;
        for (int j = 0; j < n; j++)
            p->out[j] = limit_noting(m->sum[j] - (talked ? p->in[j] : 0) + (extra ? extra[j] : 0),
                                     knee, &beyond);
    }
    p->loud = beyond != 0;
    return p->out;
}
