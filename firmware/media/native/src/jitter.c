/* Adaptive jitter buffer: timestamp-ordered packets, a play cursor, fade-out concealment. */
#include "jitter.h"
#include "fixed.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A packet held: its payload is in the buffer's store, at its slot's index. */
struct slot {
    uint32_t ts;
    uint16_t seq, len, dur;
};

struct jitter {
    jitter_config cfg;
    unsigned ratio;                    /* PCM samples per timestamp unit */
    uint8_t order[JITTER_MAX_PACKETS]; /* slot indices sorted by timestamp */
    uint32_t used;                     /* bit per slot */
    unsigned count;
    int started, stalled;
    uint32_t play_ts;              /* timestamp of the next sample to play */
    unsigned carry_len, carry_pos; /* decoded samples not yet played, starting at play_ts */
    int have_last;
    unsigned conceal_pos;
    int32_t conceal_gain; /* Q15 */
    int have_transit;
    uint32_t transit, jitter_q4;
    int32_t win_min;
    unsigned win_ticks;
    jitter_stats st;
    struct slot slots[JITTER_MAX_PACKETS];
    /* Sized for packets of one tick (20 ms of G.711 or G.722) and grown, in the owner's thread,
     * the first time a longer packet comes: a box keeps one buffer per call, and almost every
     * phone sends 20 ms packets all the time. */
    uint8_t *store;     /* max_packets payloads of store_cap octets each */
    unsigned store_cap; /* octets */
    int16_t *carry;     /* the packet being played, decoded */
    unsigned carry_cap; /* samples */
    int16_t last[];     /* the last tick played, for concealment (samples_per_tick) */
};

jitter *jitter_create(const jitter_config *cfg) {
    if (!cfg->decode || cfg->ts_per_tick == 0 || cfg->samples_per_tick == 0 ||
        cfg->samples_per_tick > JITTER_MAX_TICK || cfg->samples_per_tick % cfg->ts_per_tick ||
        cfg->max_packets > JITTER_MAX_PACKETS)
        return NULL;
    jitter *jb = calloc(1, sizeof *jb + cfg->samples_per_tick * sizeof jb->last[0]);
    if (!jb) return NULL;
    jb->cfg = *cfg;
    if (!jb->cfg.max_packets) jb->cfg.max_packets = JITTER_MAX_PACKETS;
    if (!jb->cfg.min_delay_ticks) jb->cfg.min_delay_ticks = 1;
    if (!jb->cfg.max_delay_ticks) jb->cfg.max_delay_ticks = 8;
    if (jb->cfg.max_delay_ticks < jb->cfg.min_delay_ticks)
        jb->cfg.max_delay_ticks = jb->cfg.min_delay_ticks;
    jb->ratio = cfg->samples_per_tick / cfg->ts_per_tick;
    jb->store_cap = JITTER_FIRST_PAYLOAD;
    jb->carry_cap = cfg->samples_per_tick;
    jb->store = malloc((size_t)jb->cfg.max_packets * jb->store_cap);
    jb->carry = malloc(jb->carry_cap * sizeof *jb->carry);
    if (!jb->store || !jb->carry) {
        jitter_destroy(jb);
        return NULL;
    }
    jitter_reset(jb);
    jb->st.resets = 0;
    jb->st.target_ts = jb->cfg.min_delay_ticks * jb->cfg.ts_per_tick;
    return jb;
}

void jitter_destroy(jitter *jb) {
    if (!jb) return;
    free(jb->store);
    free(jb->carry);
    free(jb);
}

/* Room for a payload of len octets decoding to len * ratio samples (the engine's codecs take one
 * timestamp unit per octet); what is held is kept. 0 if memory ran out. */
static int make_room(jitter *jb, size_t len) {
    if (len > jb->store_cap) {
        unsigned cap = 2 * jb->store_cap;
        if (cap < len) cap = (unsigned)len;
        if (cap > JITTER_MAX_PAYLOAD) cap = JITTER_MAX_PAYLOAD;
        uint8_t *store = malloc((size_t)jb->cfg.max_packets * cap);
        if (!store) return 0;
        for (unsigned i = 0; i < jb->cfg.max_packets; i++)
            if (jb->used & (1u << i))
                memcpy(store + i * cap, jb->store + i * jb->store_cap, jb->slots[i].len);
        free(jb->store);
        jb->store = store;
        jb->store_cap = cap;
    }
    size_t samples = len * jb->ratio;
    if (samples > JITTER_MAX_DECODED) samples = JITTER_MAX_DECODED;
    if (samples > jb->carry_cap) {
        int16_t *carry = realloc(jb->carry, samples * sizeof *carry); /* may hold a packet */
        if (!carry) return 0;
        jb->carry = carry;
        jb->carry_cap = (unsigned)samples;
    }
    return 1;
}

static uint8_t *payload_of(jitter *jb, const struct slot *s) {
    return jb->store + (size_t)(s - jb->slots) * jb->store_cap;
}

void jitter_reset(jitter *jb) {
    jb->count = 0;
    jb->used = 0;
    jb->started = jb->stalled = 0;
    jb->carry_len = jb->carry_pos = 0;
    jb->have_transit = 0;
    jb->win_ticks = 0;
    jb->win_min = INT32_MAX;
    jb->st.resets++;
}

static struct slot *head(jitter *jb) {
    return &jb->slots[jb->order[0]];
}
static struct slot *newest(jitter *jb) {
    return &jb->slots[jb->order[jb->count - 1]];
}

static void remove_head(jitter *jb) {
    jb->used &= ~(1u << jb->order[0]);
    memmove(jb->order, jb->order + 1, --jb->count);
}

/* End of what is buffered ahead of the cursor, in timestamp units from play_ts. */
static int32_t depth(jitter *jb) {
    if (jb->count) return WRAP_DIFF32(newest(jb)->ts + newest(jb)->dur, jb->play_ts);
    return (int32_t)((jb->carry_len - jb->carry_pos) / jb->ratio);
}

static void update_jitter(jitter *jb, uint32_t ts, uint32_t arrival) {
    uint32_t transit = arrival - ts;
    if (jb->have_transit) { /* RFC 3550 A.8 estimator */
        int32_t d = WRAP_DIFF32(transit, jb->transit);
        uint32_t ad = d < 0 ? (uint32_t)(-(int64_t)d) : (uint32_t)d;
        if (ad > 0xFFFF) ad = 0xFFFF; /* a timestamp jump must not swamp the estimate */
        jb->jitter_q4 += ad - ((jb->jitter_q4 + 8) >> 4);
    }
    jb->transit = transit;
    jb->have_transit = 1;
}

jitter_result jitter_put(jitter *jb, uint16_t seq, uint32_t ts, const uint8_t *payload, size_t len,
                         unsigned duration_ts, uint32_t arrival) {
    if (len == 0 || len > JITTER_MAX_PAYLOAD || duration_ts == 0 || duration_ts > 0xFFFF)
        return JITTER_E_INVALID;
    int32_t jump = (int32_t)(JITTER_JUMP_TICKS * jb->cfg.ts_per_tick);
    if (jb->started || jb->count) {
        uint32_t ref = jb->started ? jb->play_ts : head(jb)->ts;
        int32_t d = WRAP_DIFF32(ts, ref);
        if (d > jump || d < -jump) {
            jitter_reset(jb); /* the sender's timestamps jumped: start again from this packet */
        } else if (jb->started && d + (int32_t)duration_ts <= 0) {
            update_jitter(jb, ts, arrival);
            jb->st.late++;
            return JITTER_E_LATE;
        }
    }
    if (!make_room(jb, len)) {
        jb->st.overflows++;
        return JITTER_E_FULL;
    }
    update_jitter(jb, ts, arrival);
    unsigned pos = jb->count;
    for (unsigned i = 0; i < jb->count; i++) {
        int32_t d = WRAP_DIFF32(ts, jb->slots[jb->order[i]].ts);
        if (d == 0) {
            jb->st.duplicates++;
            return JITTER_E_DUPLICATE;
        }
        if (d < 0 && pos == jb->count) pos = i;
    }
    if (jb->count == jb->cfg.max_packets) {
        if (pos == 0) {
            jb->st.overflows++;
            return JITTER_E_FULL;
        }
        struct slot *h = head(jb); /* overflow: skip the oldest rather than play stale audio */
        if (jb->started) {
            jb->play_ts = h->ts + h->dur;
            jb->carry_len = jb->carry_pos = 0;
        }
        remove_head(jb);
        pos--;
        jb->st.overflows++;
    }
    unsigned idx = 0;
    while (jb->used & (1u << idx)) idx++;
    struct slot *s = &jb->slots[idx];
    s->ts = ts;
    s->seq = seq;
    s->len = (uint16_t)len;
    s->dur = (uint16_t)duration_ts;
    memcpy(payload_of(jb, s), payload, len);
    jb->used |= 1u << idx;
    memmove(jb->order + pos + 1, jb->order + pos, jb->count - pos);
    jb->order[pos] = (uint8_t)idx;
    jb->count++;
    return JITTER_OK;
}

/* Repeats the last frame with a linear fade; returns 1 if anything audible was produced. */
static int conceal(jitter *jb, int16_t *out, unsigned n) {
    unsigned tick = jb->cfg.samples_per_tick;
    int32_t step = INT16_MAX / (int32_t)(JITTER_CONCEAL_TICKS * tick) + 1;
    int audible = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!jb->have_last || jb->conceal_gain <= 0) {
            out[i] = 0;
            continue;
        }
        out[i] = (int16_t)MULT16_16_Q15(jb->last[jb->conceal_pos], jb->conceal_gain);
        jb->conceal_pos = (jb->conceal_pos + 1) % tick;
        jb->conceal_gain -= step;
        audible = 1;
    }
    return audible;
}

/* Drops up to budget timestamp units from the front, whole packets only. */
static void trim(jitter *jb, int32_t budget) {
    int32_t rem = (int32_t)((jb->carry_len - jb->carry_pos) / jb->ratio);
    if (rem > budget) return;
    jb->play_ts += (uint32_t)rem;
    jb->carry_pos = jb->carry_len;
    budget -= rem;
    jb->st.dropped_ts += (uint32_t)rem;
    while (jb->count) {
        struct slot *h = head(jb);
        int32_t adv = WRAP_DIFF32(h->ts + h->dur, jb->play_ts);
        if (adv > budget) break;
        if (adv > 0) {
            jb->play_ts += (uint32_t)adv;
            budget -= adv;
            jb->st.dropped_ts += (uint32_t)adv;
        }
        remove_head(jb);
    }
}

static void adapt_target(jitter *jb) {
    uint32_t tpt = jb->cfg.ts_per_tick;
    uint32_t t = tpt + 3 * (jb->jitter_q4 >> 4); /* a tick plus three mean deviations */
    uint32_t lo = jb->cfg.min_delay_ticks * tpt, hi = jb->cfg.max_delay_ticks * tpt;
    jb->st.target_ts = t < lo ? lo : t > hi ? hi : t;
    jb->st.jitter_ts = jb->jitter_q4 >> 4;
}

jitter_status jitter_get(jitter *jb, int16_t *out) {
    unsigned n = jb->cfg.samples_per_tick;
    adapt_target(jb);
    int32_t target = (int32_t)jb->st.target_ts;
    if (!jb->started) {
        int32_t have = jb->count ? WRAP_DIFF32(newest(jb)->ts + newest(jb)->dur, head(jb)->ts) : 0;
        if (!jb->count || (have < target && jb->count < jb->cfg.max_packets)) {
            int audible = conceal(jb, out, n); /* prefill: fade out what played before a reset */
            jb->st.depth_ts = (uint32_t)have;
            jb->st.packets = jb->count;
            if (audible) {
                jb->st.concealed++;
                return JITTER_CONCEALED;
            }
            jb->st.silent++;
            return JITTER_SILENCE;
        }
        jb->started = 1;
        jb->stalled = 0;
        jb->play_ts = head(jb)->ts;
        jb->carry_len = jb->carry_pos = 0;
    }

    if (!jb->stalled) { /* too full for a whole window: drift or a spike that passed */
        int32_t d = depth(jb);
        if (d < jb->win_min) jb->win_min = d;
        if (++jb->win_ticks >= JITTER_WINDOW_TICKS) {
            if (jb->win_min - target >= (int32_t)jb->cfg.ts_per_tick)
                trim(jb, jb->win_min - target);
            jb->win_ticks = 0;
            jb->win_min = INT32_MAX;
        }
    }

    unsigned pos = 0;
    int real = 0, audible = 0;
    while (pos < n) {
        if (jb->carry_pos < jb->carry_len) {
            unsigned k = jb->carry_len - jb->carry_pos;
            if (k > n - pos) k = n - pos;
            memcpy(out + pos, jb->carry + jb->carry_pos, k * sizeof *out);
            jb->carry_pos += k;
            pos += k;
            jb->play_ts += k / jb->ratio;
            real = 1;
            continue;
        }
        while (jb->count && WRAP_DIFF32(head(jb)->ts + head(jb)->dur, jb->play_ts) <= 0) {
            remove_head(jb); /* entirely in the past (overlapping packets) */
            jb->st.late++;
        }
        if (!jb->count) { /* underflow: hold the cursor so the late packet still plays */
            if (!jb->stalled) jb->st.stalls++;
            jb->stalled = 1;
            audible |= conceal(jb, out + pos, n - pos);
            pos = n;
            break;
        }
        struct slot *h = head(jb);
        int32_t d = WRAP_DIFF32(h->ts, jb->play_ts);
        if (d > 0) {
            if (jb->stalled) { /* the stream went on past the gap we already covered */
                jb->play_ts = h->ts;
                jb->stalled = 0;
                continue;
            }
            if (depth(jb) < target) { /* maybe only reordered: wait a tick, growing the delay */
                if (!jb->stalled) jb->st.stalls++;
                jb->stalled = 1;
                audible |= conceal(jb, out + pos, n - pos);
                pos = n;
                break;
            }
            unsigned k = (unsigned)d * jb->ratio; /* lost packet: conceal its span */
            if (k > n - pos) k = n - pos;
            audible |= conceal(jb, out + pos, k);
            pos += k;
            jb->play_ts += k / jb->ratio;
            continue;
        }
        int got =
            jb->cfg.decode(jb->cfg.decode_ctx, payload_of(jb, h), h->len, jb->carry, jb->carry_cap);
        unsigned skip = (unsigned)(-d) * jb->ratio; /* overlaps what was already played */
        jb->carry_len = got > 0 ? (unsigned)got : 0;
        jb->carry_pos = skip < jb->carry_len ? skip : jb->carry_len;
        jb->play_ts += jb->carry_pos / jb->ratio;
        if (got <= 0) jb->play_ts = h->ts + h->dur; /* undecodable: treat as lost */
        remove_head(jb);
        jb->stalled = 0;
    }

    jb->st.depth_ts = (uint32_t)(depth(jb) > 0 ? depth(jb) : 0);
    jb->st.packets = jb->count;
    if (real) {
        if (!audible) {
            memcpy(jb->last, out, n * sizeof *out);
            jb->have_last = 1;
        }
        jb->conceal_gain = INT16_MAX;
        jb->conceal_pos = 0;
        jb->st.frames++;
        return JITTER_FRAME;
    }
    if (audible) {
        jb->st.concealed++;
        return JITTER_CONCEALED;
    }
    jb->st.silent++;
    return JITTER_SILENCE;
}

void jitter_get_stats(const jitter *jb, jitter_stats *out) {
    *out = jb->st;
}
