/* The media engine's control side: what the host calls (engine.h). The media threads are in
 * engine_media.c; engine_internal.h says which lock guards what. */
#define _GNU_SOURCE
#include "engine_internal.h"
#include "g711.h"
#include "srtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

uint64_t engine_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t engine_random32(void) {
    uint32_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)engine_mono_us() *
            2654435761u; /* entropy not ready: any value will do for SSRC */
    return v;
}

/* ---- addresses ---- */

/* Parses a numeric address for a socket of the engine's family (IPv4 maps into IPv6). */
static int parse_addr(const engine *e, const char *s, uint16_t port, struct sockaddr_storage *out,
                      socklen_t *len) {
    memset(out, 0, sizeof *out);
    struct in_addr a4;
    struct in6_addr a6;
    if (e->bind_addr.ss_family == AF_INET) {
        if (inet_pton(AF_INET, s, &a4) != 1) return -EINVAL;
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_addr = a4;
        sin->sin_port = htons(port);
        *len = sizeof *sin;
        return 0;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        sin6->sin6_addr = a6;
    } else if (inet_pton(AF_INET, s, &a4) == 1) {
        sin6->sin6_addr.s6_addr[10] = 0xff; /* ::ffff:a.b.c.d */
        sin6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
    } else {
        return -EINVAL;
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    *len = sizeof *sin6;
    return 0;
}

/* The 16-byte host part of an address (IPv4 as v4-mapped), for comparisons. */
static void host_of(const struct sockaddr_storage *a, uint8_t out[16], uint16_t *port) {
    memset(out, 0, 16);
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &s->sin_addr, 4);
        *port = ntohs(s->sin_port);
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        memcpy(out, &s->sin6_addr, 16);
        *port = ntohs(s->sin6_port);
    }
}

int engine_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    uint8_t ha[16], hb[16];
    uint16_t pa, pb;
    host_of(a, ha, &pa);
    host_of(b, hb, &pb);
    return memcmp(ha, hb, 16) == 0;
}

int engine_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    uint8_t ha[16], hb[16];
    uint16_t pa, pb;
    host_of(a, ha, &pa);
    host_of(b, hb, &pb);
    return pa == pb && memcmp(ha, hb, 16) == 0;
}

static int is_unspecified(const struct sockaddr_storage *a) {
    uint8_t h[16], zero[16] = {0}, mapped[16] = {0};
    uint16_t p;
    host_of(a, h, &p);
    mapped[10] = mapped[11] = 0xff;
    return memcmp(h, zero, 16) == 0 || memcmp(h, mapped, 16) == 0;
}

void engine_set_port(struct sockaddr_storage *a, uint16_t port) {
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

uint16_t engine_get_port(const struct sockaddr_storage *a) {
    uint8_t h[16];
    uint16_t p;
    host_of(a, h, &p);
    return p;
}

size_t engine_poll_events(engine *e, engine_event *ev, size_t max) {
    pthread_mutex_lock(&e->ev_lock);
    size_t n = 0;
    while (e->ev_tail != e->ev_head && n < max) ev[n++] = e->ring[e->ev_tail++ % EVENT_RING];
    pthread_mutex_unlock(&e->ev_lock);
    return n;
}

/* ---- legs ---- */

static leg *find_leg(engine *e, uint32_t id) {
    uint32_t slot = id & 0xFFFF;
    if (slot >= e->max_legs || !e->legs[slot] || e->legs[slot]->id != id) return NULL;
    return e->legs[slot];
}

/* Takes the engine's lock and, when the leg exists, the lock of the thread that runs it. */
static leg *lock_leg(engine *e, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (l) pthread_mutex_lock(&e->workers[l->worker].lock);
    return l;
}

/* Gives back what lock_leg() took. */
static void unlock_leg(engine *e, const leg *l) {
    if (l) pthread_mutex_unlock(&e->workers[l->worker].lock);
    pthread_mutex_unlock(&e->lock);
}

/* The thread with the fewest legs, not counting leg l (NULL: a new leg), which stays where it is
 * on a tie. Under the engine's lock. */
static unsigned least_loaded(engine *e, const leg *l) {
    unsigned best = l ? l->worker : 0, best_load = UINT32_MAX;
    if (l) best_load = e->workers[l->worker].n_legs - 1;
    for (unsigned i = 0; i < e->n_workers; i++) {
        unsigned load = e->workers[i].n_legs - (l && l->worker == i);
        if (load < best_load) best = i, best_load = load;
    }
    return best;
}

/* Lets thread w see the leg's sockets (epoll) and find it by its slot. */
static void worker_take_leg(worker *w, leg *l) {
    uint32_t slot = l->id & 0xFFFF;
    if (l->rtp_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = (uint64_t)l->id << 1;
        epoll_ctl(w->sock_epfd, EPOLL_CTL_ADD, l->rtp_fd, &ev);
        ev.data.u64 = (uint64_t)l->id << 1 | 1;
        epoll_ctl(w->sock_epfd, EPOLL_CTL_ADD, l->rtcp_fd, &ev);
    }
    w->legs[slot] = l;
    w->n_legs++;
    l->worker = w->index;
}

/* The reverse of worker_take_leg(): a packet of the leg that w has already seen is dropped. */
static void worker_drop_leg(worker *w, leg *l) {
    if (l->rtp_fd >= 0) {
        epoll_ctl(w->sock_epfd, EPOLL_CTL_DEL, l->rtp_fd, NULL);
        epoll_ctl(w->sock_epfd, EPOLL_CTL_DEL, l->rtcp_fd, NULL);
    }
    w->legs[l->id & 0xFFFF] = NULL;
    w->n_legs--;
}

static int check_options(const engine_leg_options *o) {
    if (o->codec != ENGINE_CODEC_PCMU && o->codec != ENGINE_CODEC_PCMA &&
        o->codec != ENGINE_CODEC_G722)
        return -EINVAL;
    if (o->payload_type > 127 || o->dtmf_payload_type > 127 || o->dtmf_payload_type < -1)
        return -EINVAL;
    if (o->ptime_ms && (o->ptime_ms < 10 || o->ptime_ms > 60 || o->ptime_ms % 10)) return -EINVAL;
    if (o->direction & ~(unsigned)(ENGINE_DIR_NO_SEND | ENGINE_DIR_NO_RECEIVE)) return -EINVAL;
    if (o->srtp != RTPSEC_NONE && o->srtp != RTPSEC_AES_CM_128_HMAC_SHA1_80 &&
        o->srtp != RTPSEC_AES_CM_128_HMAC_SHA1_32)
        return -EINVAL;
    return 0;
}

static int decode_payload(void *ctx, const uint8_t *p, size_t len, int16_t *pcm, size_t max) {
    leg *l = ctx;
    if (l->o.codec == ENGINE_CODEC_G722) {
        if (2 * len > max) return -1;
        return (int)g722_decode(l->dec, p, len, pcm);
    }
    if (len > max) return -1;
    if (l->o.codec == ENGINE_CODEC_PCMA)
        g711_alaw_decode_buf(p, len, pcm);
    else
        g711_ulaw_decode_buf(p, len, pcm);
    return (int)len;
}

static jitter *new_jitter(leg *l, int wb) {
    jitter_config jc = {FRAME_NB, wb ? FRAME_WB : FRAME_NB, 0, 1, 8, decode_payload, l};
    return jitter_create(&jc);
}

static void free_leg(leg *l) {
    if (!l) return;
    if (l->rtp_fd >= 0) close(l->rtp_fd);
    if (l->rtcp_fd >= 0) close(l->rtcp_fd);
    jitter_destroy(l->jb);
    g722_encoder_destroy(l->enc);
    g722_decoder_destroy(l->dec);
    resampler_destroy(l->up);
    resampler_destroy(l->down);
    resampler_destroy(l->play.conv);
    local_audio_destroy(l->la);
    echo_cancel_destroy(l->ec);
    rtpsec_destroy(l->tx_sec);
    rtpsec_destroy(l->rx_sec);
    explicit_bzero(&l->o, sizeof l->o); /* the SRTP keys */
    free(l);
}

static int open_socket(engine *e, uint16_t port) {
    int fd = socket(e->bind_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (e->bind_addr.ss_family == AF_INET6) {
        int off = 0; /* dual stack: IPv4 peers arrive as v4-mapped addresses */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    /* the kernel notes when each datagram arrived: the media thread reads them on its timer */
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    struct sockaddr_storage a = e->bind_addr;
    engine_set_port(&a, port);
    if (bind(fd, (struct sockaddr *)&a, e->bind_len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Binds an even RTP port and the odd RTCP port above it, scanning the range once. */
static int bind_pair(engine *e, leg *l) {
    pthread_mutex_lock(&e->port_lock);
    unsigned lo = e->cfg.port_min + (e->cfg.port_min & 1u), span = 0;
    if (e->cfg.port_max > lo) span = (e->cfg.port_max - lo + 1u) / 2u;
    int rc = -EADDRINUSE;
    for (unsigned t = 0; t < span; t++) {
        uint16_t port = e->port_cursor;
        e->port_cursor = (uint16_t)(port + 2u > e->cfg.port_max - 1u ? lo : port + 2u);
        int a = open_socket(e, port);
        if (a < 0) continue;
        int b = open_socket(e, (uint16_t)(port + 1u));
        if (b < 0) {
            close(a);
            continue;
        }
        l->rtp_fd = a;
        l->rtcp_fd = b;
        l->port = port;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&e->port_lock);
    return rc;
}

/* The SRTP contexts opts asks for, made afresh only where the suite or a key differs from
 * cur's (NULL: a new leg). *tx and *rx get a new context, or NULL to keep the current one. */
static int make_srtp(const engine_leg_options *cur, const engine_leg_options *opts, rtpsec **tx,
                     rtpsec **rx) {
    *tx = *rx = NULL;
    if (opts->srtp == RTPSEC_NONE) return 0;
    int same = cur && cur->srtp == opts->srtp;
    int rc = 0;
    if (!same || memcmp(cur->srtp_tx_key, opts->srtp_tx_key, RTPSEC_KEY_LEN) != 0)
        rc = rtpsec_create(opts->srtp, opts->srtp_tx_key, 1, tx);
    if (rc == 0 && (!same || memcmp(cur->srtp_rx_key, opts->srtp_rx_key, RTPSEC_KEY_LEN) != 0))
        rc = rtpsec_create(opts->srtp, opts->srtp_rx_key, 0, rx);
    if (rc) {
        rtpsec_destroy(*tx);
        *tx = NULL;
    }
    return rc;
}

/* G.722's encoder and decoder state, made for a leg once it speaks G.722 (most calls never do). */
static int g722_state(leg *l) {
    if (!l->enc) l->enc = g722_encoder_create();
    if (!l->dec) l->dec = g722_decoder_create();
    return l->enc && l->dec;
}

/* A leg with its codec state and jitter buffer, and no sockets yet. */
static leg *new_leg(const engine_leg_options *opts) {
    leg *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->rtp_fd = l->rtcp_fd = -1;
    l->o = *opts;
    l->wb = opts->codec == ENGINE_CODEC_G722;
    l->conf = l->member = -1;
    l->out_ssrc = engine_random32();
    l->out_seq = (uint16_t)engine_random32();
    l->out_ts = engine_random32();
    l->marker_next = 1;
    talk_detect_init(&l->talk);
    l->up = resampler_create(RESAMPLE_UP);
    l->down = resampler_create(RESAMPLE_DOWN);
    l->jb = new_jitter(l, l->wb);
    if ((l->wb && !g722_state(l)) || !l->up || !l->down || !l->jb) {
        free_leg(l);
        return NULL;
    }
    return l;
}

/* Gives the leg a slot and an id and lets the media thread see it; frees it on failure. */
static int add_leg(engine *e, leg *l, uint32_t *leg_id) {
    pthread_mutex_lock(&e->lock);
    unsigned slot = 0;
    while (slot < e->max_legs && e->legs[slot]) slot++;
    if (slot == e->max_legs) {
        pthread_mutex_unlock(&e->lock);
        free_leg(l);
        return -EMFILE;
    }
    if (++e->gen[slot] == 0) e->gen[slot] = 1;
    l->id = (uint32_t)e->gen[slot] << 16 | slot;
    l->st.local_port = l->port;
    worker *w = &e->workers[least_loaded(e, NULL)];
    pthread_mutex_lock(&w->lock);
    worker_take_leg(w, l);
    pthread_mutex_unlock(&w->lock);
    e->legs[slot] = l;
    e->n_legs++;
    *leg_id = l->id;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int engine_open_leg(engine *e, const engine_leg_options *opts, uint32_t *leg_id,
                    uint16_t *local_port) {
    int rc = check_options(opts);
    if (rc) return rc;
    leg *l = new_leg(opts);
    if (!l) return -ENOMEM;
    if ((rc = make_srtp(NULL, opts, &l->tx_sec, &l->rx_sec)) != 0 || (rc = bind_pair(e, l)) != 0) {
        free_leg(l);
        return rc;
    }
    uint16_t port = l->port;
    if ((rc = add_leg(e, l, leg_id)) != 0) return rc;
    if (local_port) *local_port = port;
    return 0;
}

int engine_open_local_leg(engine *e, const local_audio_config *devices, uint32_t *leg_id) {
    /* the sound card runs at 16 kHz: the leg is wideband, and never encodes or sends RTP */
    engine_leg_options o = {.codec = ENGINE_CODEC_G722,
                            .payload_type = ENGINE_CODEC_G722,
                            .dtmf_payload_type = -1,
                            .ptime_ms = 20,
                            .rtp_timeout_ms = UINT32_MAX};
    leg *l = new_leg(&o);
    if (!l) return -ENOMEM;
    int rc = local_audio_create(devices, &l->la);
    if (rc) {
        free_leg(l);
        return rc;
    }
    return add_leg(e, l, leg_id);
}

int engine_get_local_status(engine *e, uint32_t id, local_audio_status *out) {
    leg *l = lock_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : 0;
    if (rc == 0) local_audio_get_status(l->la, out);
    unlock_leg(e, l);
    return rc;
}

int engine_local_echo_active(engine *e, uint32_t id) {
    leg *l = lock_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : l->ec != NULL;
    unlock_leg(e, l);
    return rc;
}

int engine_set_local_echo(engine *e, uint32_t id, const echo_cancel_config *cfg) {
    echo_cancel *ec = NULL;
    if (cfg) {
        echo_cancel_config c = *cfg;
        c.rate = LOCAL_AUDIO_RATE;
        c.frame = LOCAL_AUDIO_FRAME;
        int rc = echo_cancel_create(&c, &ec);
        if (rc) return rc;
    }
    leg *l = lock_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : 0;
    if (rc == 0) {
        echo_cancel *old = l->ec;
        l->ec = ec;
        ec = old;
    }
    unlock_leg(e, l);
    echo_cancel_destroy(ec);
    return rc;
}

static void conf_update_rate(engine *e, conference *c);

int engine_connect_leg(engine *e, uint32_t id, const char *address, uint16_t port,
                       const engine_leg_options *opts) {
    struct sockaddr_storage addr;
    socklen_t len;
    int rc = parse_addr(e, address, port, &addr, &len);
    if (rc) return rc;
    if (opts && (rc = check_options(opts)) != 0) return rc;
    leg *l = lock_leg(e, id);
    if (!l || l->la) {
        unlock_leg(e, l);
        return l ? -EINVAL : -ENOENT;
    }
    /* made under the lock, against the leg's current keys (a key schedule takes microseconds) */
    rtpsec *tx = NULL, *rx = NULL;
    if (opts && (rc = make_srtp(&l->o, opts, &tx, &rx)) != 0) {
        unlock_leg(e, l);
        return rc;
    }
    int wb = opts ? opts->codec == ENGINE_CODEC_G722 : l->wb;
    jitter *fresh = NULL;
    if (wb != l->wb || (opts && opts->codec != l->o.codec)) {
        fresh = new_jitter(l, wb); /* the codec changed: buffered payloads are of the old one */
        if (!fresh || (wb && !g722_state(l))) {
            jitter_destroy(fresh);
            unlock_leg(e, l);
            rtpsec_destroy(tx);
            rtpsec_destroy(rx);
            return -ENOMEM;
        }
    }
    uint64_t now = engine_mono_us();
    if (!l->has_remote || !engine_same_endpoint(&l->remote, &addr)) {
        l->has_lock = l->has_rtcp_src = 0;
        l->connected_us = now;
    }
    if (opts) {
        unsigned was = l->o.direction, now_dir = opts->direction;
        if ((was & ENGINE_DIR_NO_RECEIVE) && !(now_dir & ENGINE_DIR_NO_RECEIVE)) {
            l->last_rx_us = now; /* the inactivity timer starts again at the resume */
            l->timed_out = 0;
        }
        if (!(was & ENGINE_DIR_NO_RECEIVE) && (now_dir & ENGINE_DIR_NO_RECEIVE))
            jitter_reset(l->jb); /* what was buffered before the hold is not heard after it */
        if ((was & ENGINE_DIR_NO_SEND) && !(now_dir & ENGINE_DIR_NO_SEND)) l->marker_next = 1;
    }
    l->remote = addr;
    l->remote_len = len;
    l->has_remote = !is_unspecified(&addr) && port != 0;
    if (!l->connected) l->last_rx_us = now;
    l->connected = 1;
    rtpsec *old_tx = NULL, *old_rx = NULL;
    if (opts) {
        if (opts->srtp == RTPSEC_NONE || tx) old_tx = l->tx_sec, l->tx_sec = tx;
        if (opts->srtp == RTPSEC_NONE || rx) old_rx = l->rx_sec, l->rx_sec = rx;
        l->o = *opts;
    }
    if (fresh) {
        jitter_destroy(l->jb);
        l->jb = fresh;
        l->wb = wb;
        if (l->enc) g722_encoder_reset(l->enc);
        if (l->dec) g722_decoder_reset(l->dec);
        l->outq_len = 0;
        if (l->conf >= 0) conf_update_rate(e, &e->confs[l->conf]);
    }
    unsigned step = l->o.ptime_ms ? l->o.ptime_ms / 10 : 2;
    if (l->pace_wait > step) l->pace_wait = step; /* a shorter ptime takes effect at once */
    unlock_leg(e, l);
    rtpsec_destroy(old_tx);
    rtpsec_destroy(old_rx);
    return 0;
}

/* ---- conferences ---- */

static void recording_free(recording *r) {
    if (!r) return;
    resampler_destroy(r->up);
    free(r->ring);
    free(r);
}

static conference *find_conf(engine *e, uint32_t id) {
    for (unsigned i = 0; i < e->max_legs; i++)
        if (e->confs[i].used && e->confs[i].id == id) return &e->confs[i];
    return NULL;
}

/* Takes the engine's lock and, when the conference exists, the lock of the thread that mixes it. */
static conference *lock_conf(engine *e, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    conference *c = find_conf(e, id);
    if (c) pthread_mutex_lock(&e->workers[c->worker].lock);
    return c;
}

static void unlock_conf(engine *e, const conference *c) {
    if (c) pthread_mutex_unlock(&e->workers[c->worker].lock);
    pthread_mutex_unlock(&e->lock);
}

/* A conference mixes at 16 kHz as soon as one member speaks G.722. */
static void conf_update_rate(engine *e, conference *c) {
    int wb = 0;
    for (unsigned i = 0; i < c->n_members; i++) wb |= e->legs[c->members[i]]->wb;
    if (wb == c->wb) return;
    c->wb = wb;
    int n = wb ? FRAME_WB : FRAME_NB;
    mixer_ctl(c->mx, MIXER_SET_FRAME_SIZE, &n);
    for (unsigned i = 0; i < c->n_members; i++) {
        resampler_reset(e->legs[c->members[i]]->up);
        resampler_reset(e->legs[c->members[i]]->down);
    }
}

/* A conference whose last member left (or whose first could not join) is gone. */
static void free_conf(engine *e, conference *c) {
    worker *w = &e->workers[c->worker];
    uint32_t index = (uint32_t)(c - e->confs);
    for (unsigned i = 0; i < w->n_confs; i++)
        if (w->confs[i] == index) {
            w->confs[i] = w->confs[--w->n_confs];
            break;
        }
    recording_free(c->rec);
    mixer_destroy(c->mx);
    resampler_destroy(c->play.conv);
    free(c->members);
    memset(c, 0, sizeof *c);
    e->n_confs--;
}

static void leave_locked(engine *e, leg *l) {
    if (l->conf < 0) return;
    conference *c = &e->confs[l->conf];
    uint32_t slot = l->id & 0xFFFF;
    for (unsigned i = 0; i < c->n_members; i++)
        if (c->members[i] == slot) {
            c->members[i] = c->members[--c->n_members];
            break;
        }
    mixer_remove(c->mx, l->member);
    l->conf = l->member = -1;
    if (c->n_members == 0) {
        free_conf(e, c);
        return;
    }
    conf_update_rate(e, c);
}

/* A new conference, mixed by thread w (whose lock is held). */
static int new_conf(engine *e, worker *w, uint32_t conf_id, conference **out) {
    unsigned i = 0;
    while (i < e->max_legs && e->confs[i].used) i++;
    if (i == e->max_legs) return -EMFILE;
    conference *c = &e->confs[i];
    memset(c, 0, sizeof *c);
    c->mx = mixer_create(FRAME_NB);
    if (!c->mx) return -ENOMEM;
    c->sound_member = mixer_add(c->mx);
    c->used = 1;
    c->id = conf_id;
    c->worker = w->index;
    w->confs[w->n_confs++] = i;
    e->n_confs++;
    *out = c;
    return 0;
}

/* Puts leg l (in no conference) into conference c, on c's thread. */
static int add_member(engine *e, conference *c, leg *l) {
    if (c->n_members == c->cap) {
        unsigned cap = c->cap ? 2 * c->cap : 8;
        uint32_t *m = realloc(c->members, cap * sizeof *m);
        if (!m) return -ENOMEM;
        c->members = m;
        c->cap = cap;
    }
    int member = mixer_add(c->mx);
    if (member < 0) return -ENOMEM;
    c->members[c->n_members++] = l->id & 0xFFFF;
    l->conf = (int)(c - e->confs);
    l->member = member;
    mixer_set_muted(c->mx, member, l->muted);
    resampler_reset(l->up);
    resampler_reset(l->down);
    conf_update_rate(e, c);
    return 0;
}

/* A conference and all its members run on one thread: a new one on the thread with the fewest
 * legs, and a leg that joins one on another thread moves there, sockets and all. */
int engine_join(engine *e, uint32_t id, uint32_t conf_id) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (!l) {
        pthread_mutex_unlock(&e->lock);
        return -ENOENT;
    }
    if (l->conf >= 0 && e->confs[l->conf].id == conf_id) {
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    conference *c = find_conf(e, conf_id);
    worker *from = &e->workers[l->worker];
    worker *to = &e->workers[c ? c->worker : least_loaded(e, l)];
    worker *first = from->index < to->index ? from : to, *second = first == from ? to : from;
    pthread_mutex_lock(&first->lock);
    if (second != first) pthread_mutex_lock(&second->lock);
    int rc = 0;
    leave_locked(e, l);
    if (!c) rc = new_conf(e, to, conf_id, &c);
    if (rc == 0 && from != to) {
        worker_drop_leg(from, l);
        worker_take_leg(to, l);
    }
    if (rc == 0) rc = add_member(e, c, l);
    /* a conference made for this join would be left without members */
    if (rc && c && c->n_members == 0) free_conf(e, c);
    if (second != first) pthread_mutex_unlock(&second->lock);
    pthread_mutex_unlock(&first->lock);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int engine_leave(engine *e, uint32_t id) {
    leg *l = lock_leg(e, id);
    if (l) leave_locked(e, l);
    unlock_leg(e, l);
    return l ? 0 : -ENOENT;
}

int engine_set_muted(engine *e, uint32_t id, int muted) {
    leg *l = lock_leg(e, id);
    if (l) {
        l->muted = muted != 0;
        if (l->conf >= 0) mixer_set_muted(e->confs[l->conf].mx, l->member, l->muted);
    }
    unlock_leg(e, l);
    return l ? 0 : -ENOENT;
}

int engine_close_leg(engine *e, uint32_t id) {
    leg *l = lock_leg(e, id);
    if (l) {
        leave_locked(e, l);
        worker_drop_leg(&e->workers[l->worker], l);
        e->legs[id & 0xFFFF] = NULL;
        e->n_legs--;
    }
    unlock_leg(e, l);
    free_leg(l); /* unreachable now: the media threads find legs by id under their locks */
    return l ? 0 : -ENOENT;
}

/* ---- sounds and playback ---- */

int engine_add_sound(engine *e, const int16_t *pcm, size_t samples, unsigned rate, uint32_t *id) {
    if ((rate != 8000 && rate != 16000) || samples == 0) return -EINVAL;
    int wb = rate == 16000;
    size_t chunk = wb ? FRAME_WB : FRAME_NB;
    size_t frames = (samples + chunk - 1) / chunk;
    int16_t *copy = calloc(frames * chunk, sizeof *copy);
    if (!copy) return -ENOMEM;
    memcpy(copy, pcm, samples * sizeof *pcm);
    pthread_mutex_lock(&e->lock); /* then every thread's lock: they read the table */
    for (unsigned i = 0; i < e->n_workers; i++) pthread_mutex_lock(&e->workers[i].lock);
    int rc = 0;
    if (e->n_sounds == e->cap_sounds) {
        unsigned cap = e->cap_sounds ? 2 * e->cap_sounds : 16;
        sound *s = realloc(e->sounds, cap * sizeof *s);
        if (s) {
            e->sounds = s;
            e->cap_sounds = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0) {
        e->sounds[e->n_sounds] = (sound){copy, wb, frames};
        *id = e->n_sounds++;
    }
    for (unsigned i = e->n_workers; i-- > 0;) pthread_mutex_unlock(&e->workers[i].lock);
    pthread_mutex_unlock(&e->lock);
    if (rc) free(copy);
    return rc;
}

/* Takes the engine's lock and, when the target exists, the lock of its thread (*w). */
static playback *lock_playback(engine *e, engine_target target, uint32_t id, worker **w) {
    pthread_mutex_lock(&e->lock);
    playback *p = NULL;
    *w = NULL;
    if (target == ENGINE_TARGET_LEG) {
        leg *l = find_leg(e, id);
        if (l) *w = &e->workers[l->worker], p = &l->play;
    } else {
        conference *c = find_conf(e, id);
        if (c) *w = &e->workers[c->worker], p = &c->play;
    }
    if (*w) pthread_mutex_lock(&(*w)->lock);
    return p;
}

/* The rate at which a playback starting now is heard (the media thread's choice): a leg's own,
 * unless it is mixed into the leg's conference. Called under the engine's lock. */
static int heard_wb(engine *e, engine_target target, uint32_t id, unsigned flags) {
    if (target == ENGINE_TARGET_CONFERENCE) return find_conf(e, id)->wb;
    leg *l = find_leg(e, id);
    if (l->conf >= 0 && !(flags & ENGINE_PLAY_REPLACE)) return e->confs[l->conf].wb;
    return l->wb;
}

static void unlock_playback(engine *e, worker *w) {
    if (w) pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&e->lock);
}

int engine_record(engine *e, uint32_t conf_id, uint32_t seconds) {
    if (seconds == 0 || seconds > 60) return -EINVAL;
    conference *c = lock_conf(e, conf_id);
    int rc = 0;
    recording *r = NULL;
    if (!c) {
        rc = -ENOENT;
        goto out;
    }
    if (c->rec) {
        rc = -EBUSY;
        goto out;
    }
    r = calloc(1, sizeof *r);
    if (r) {
        r->cap = (size_t)seconds * 16000;
        r->ring = malloc(r->cap * sizeof *r->ring);
        r->up = resampler_create(RESAMPLE_UP);
        r->member = mixer_add(c->mx);
    }
    if (!r || !r->ring || !r->up || r->member < 0) {
        if (r && r->member >= 0) mixer_remove(c->mx, r->member);
        recording_free(r);
        rc = -ENOMEM;
        goto out;
    }
    c->rec = r;
out:
    unlock_conf(e, c);
    return rc;
}

int engine_read_recording(engine *e, uint32_t conf_id, int16_t *pcm, size_t max, size_t *got,
                          uint64_t *dropped) {
    conference *c = lock_conf(e, conf_id);
    recording *r = c ? c->rec : NULL;
    size_t n = 0;
    if (r) {
        for (; n < max && r->len; n++, r->len--) {
            pcm[n] = r->ring[r->head];
            r->head = (r->head + 1) % r->cap;
        }
        if (dropped) *dropped = r->dropped;
    }
    unlock_conf(e, c);
    *got = n;
    return r ? 0 : -ENOENT;
}

int engine_record_stop(engine *e, uint32_t conf_id) {
    conference *c = lock_conf(e, conf_id);
    recording *r = c ? c->rec : NULL;
    if (r) {
        mixer_remove(c->mx, r->member);
        recording_free(r);
        c->rec = NULL;
    }
    unlock_conf(e, c);
    return r ? 0 : -ENOENT;
}

int engine_play(engine *e, engine_target target, uint32_t id, uint32_t snd, unsigned flags,
                uint32_t *playback_id) {
    worker *w;
    playback *p = lock_playback(e, target, id, &w);
    int rc = snd >= e->n_sounds ? -EINVAL : p ? 0 : -ENOENT;
    if (rc == 0) rc = playback_converter(p, e->sounds[snd].wb, heard_wb(e, target, id, flags));
    if (rc == 0) {
        if (++e->next_playback == 0) e->next_playback = 1;
        p->active = 1;
        p->id = e->next_playback;
        p->sound = snd;
        p->flags = flags;
        p->frame = 0;
        if (p->conv) resampler_reset(p->conv);
        if (playback_id) *playback_id = p->id;
    }
    unlock_playback(e, w);
    return rc;
}

int engine_stop(engine *e, engine_target target, uint32_t id) {
    worker *w;
    playback *p = lock_playback(e, target, id, &w);
    if (p) p->active = 0;
    unlock_playback(e, w);
    return p ? 0 : -ENOENT;
}

/* ---- lifecycle and stats ---- */

/* As many media threads as the processors this process may run on, less one for the rest of
 * the box (signalling, the database), and at least one. */
static unsigned default_threads(void) {
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    unsigned n = cpus > 2 ? (unsigned)cpus - 1 : 1;
    return n > ENGINE_MAX_THREADS ? ENGINE_MAX_THREADS : n;
}

/* Makes thread index of the engine: its tables, epoll, timer on the shared grid, and the thread. */
static int worker_start(engine *e, worker *w, unsigned index, const struct timespec *first) {
    w->e = e;
    w->index = index;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->sock_epfd = epoll_create1(EPOLL_CLOEXEC);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->sock_epfd < 0 || w->tfd < 0 || w->wakefd < 0) return -errno;
    w->legs = calloc(e->max_legs, sizeof *w->legs);
    w->confs = calloc(e->max_legs, sizeof *w->confs);
    if (!w->legs || !w->confs) return -ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    w->lock_made = 1;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = EV_TIMER;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev);
    ev.data.u64 = EV_WAKE;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
    struct itimerspec its = {.it_interval = {0, PACE_US * 1000}, .it_value = *first};
    if (timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) return -errno;
    int rc = pthread_create(&w->thread, NULL, engine_media_thread, w);
    if (rc) return -rc;
    w->started = 1;
    /* Shown by top -H and ps -L; a supervisor or a test can find the media threads by it. */
    char name[32];
    if (index == 0)
        snprintf(name, sizeof name, "%s", ENGINE_THREAD_NAME);
    else
        snprintf(name, sizeof name, "%s%u", ENGINE_THREAD_NAME, index + 1);
    name[15] = 0; /* the kernel's limit; ENGINE_MAX_THREADS keeps within it */
    pthread_setname_np(w->thread, name);
    return 0;
}

static void worker_free(worker *w) {
    if (w->epfd > 0) close(w->epfd);
    if (w->sock_epfd > 0) close(w->sock_epfd);
    if (w->tfd > 0) close(w->tfd);
    if (w->wakefd > 0) close(w->wakefd);
    if (w->lock_made) pthread_mutex_destroy(&w->lock);
    free(w->legs);
    free(w->confs);
}

int engine_create(const engine_config *cfg, engine **out) {
    engine *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->cfg = *cfg;
    if (!e->cfg.port_min) e->cfg.port_min = 20000;
    if (!e->cfg.port_max) e->cfg.port_max = 20999;
    if (!e->cfg.max_legs) { /* as many legs as the port range has RTP/RTCP pairs */
        unsigned lo = e->cfg.port_min + (e->cfg.port_min & 1u);
        unsigned pairs = e->cfg.port_max > lo ? (e->cfg.port_max - lo + 1u) / 2u : 1u;
        e->cfg.max_legs = pairs > 0xFFFFu ? 0xFFFFu : pairs ? pairs : 1u;
    }
    if (!e->cfg.rtp_timeout_ms) e->cfg.rtp_timeout_ms = 30000;
    if (!e->cfg.latch_quiet_ms) e->cfg.latch_quiet_ms = LATCH_QUIET_MS;
    if (!e->cfg.unanswered_ms) e->cfg.unanswered_ms = UNANSWERED_MS;
    int rc = -EINVAL;
    if (e->cfg.max_legs > 0xFFFF || e->cfg.port_max <= e->cfg.port_min ||
        e->cfg.media_threads > ENGINE_MAX_THREADS)
        goto fail;
    snprintf(e->cname, sizeof e->cname, "%s", cfg->cname ? cfg->cname : "confbox");
    e->bind_addr.ss_family = AF_INET;
    const char *bind_to = cfg->bind_address ? cfg->bind_address : "0.0.0.0";
    if (parse_addr(e, bind_to, 0, &e->bind_addr, &e->bind_len) != 0) {
        e->bind_addr.ss_family = AF_INET6;
        if (strchr(bind_to, ':') == NULL ||
            parse_addr(e, bind_to, 0, &e->bind_addr, &e->bind_len) != 0)
            goto fail;
    }
    e->max_legs = e->cfg.max_legs;
    e->port_cursor = (uint16_t)(e->cfg.port_min + (e->cfg.port_min & 1u));
    e->n_workers = e->cfg.media_threads ? e->cfg.media_threads : default_threads();
    rc = -ENOMEM;
    e->legs = calloc(e->max_legs, sizeof *e->legs);
    e->gen = calloc(e->max_legs, sizeof *e->gen);
    e->confs = calloc(e->max_legs, sizeof *e->confs);
    e->workers = calloc(e->n_workers, sizeof *e->workers);
    if (!e->legs || !e->gen || !e->confs || !e->workers) goto fail;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->port_lock, NULL);
    pthread_mutex_init(&e->ev_lock, NULL);
    e->locks_made = 1;
    /* one grid for every thread: absolute expiries at a fixed interval, which never drift */
    struct timespec first;
    clock_gettime(CLOCK_MONOTONIC, &first);
    first.tv_nsec += PACE_US * 1000;
    if (first.tv_nsec >= 1000000000) {
        first.tv_sec++;
        first.tv_nsec -= 1000000000;
    }
    for (unsigned i = 0; i < e->n_workers; i++)
        if ((rc = worker_start(e, &e->workers[i], i, &first)) != 0) goto fail;
    *out = e;
    return 0;
fail:
    engine_destroy(e);
    return rc;
}

void engine_destroy(engine *e) {
    if (!e) return;
    atomic_store(&e->stop, 1);
    if (!e->workers) e->n_workers = 0;
    for (unsigned i = 0; i < e->n_workers; i++) {
        worker *w = &e->workers[i];
        uint64_t one = 1;
        if (!w->started || write(w->wakefd, &one, sizeof one) < 0) continue;
    }
    for (unsigned i = 0; i < e->n_workers; i++)
        if (e->workers[i].started) pthread_join(e->workers[i].thread, NULL);
    if (e->legs)
        for (unsigned i = 0; i < e->max_legs; i++)
            if (e->legs[i]) engine_close_leg(e, e->legs[i]->id);
    for (unsigned i = 0; i < e->n_sounds; i++) {
        free(e->sounds[i].pcm);
    }
    free(e->sounds);
    for (unsigned i = 0; i < e->n_workers; i++) worker_free(&e->workers[i]);
    if (e->locks_made) {
        pthread_mutex_destroy(&e->lock);
        pthread_mutex_destroy(&e->port_lock);
        pthread_mutex_destroy(&e->ev_lock);
    }
    free(e->workers);
    free(e->legs);
    free(e->gen);
    free(e->confs);
    free(e);
}

int engine_get_stats(engine *e, engine_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    out->legs = e->n_legs;
    out->conferences = e->n_confs;
    out->threads = e->n_workers;
    for (unsigned i = 0; i < e->n_workers; i++) {
        worker *w = &e->workers[i];
        pthread_mutex_lock(&w->lock);
        const engine_stats *s = &w->st;
        /* every thread ticks on the same grid: the engine ran the ticks all of them ran, so that
         * one stalled thread stalls the count (the watchdog follows it) */
        if (i == 0 || s->ticks < out->ticks) out->ticks = s->ticks;
        out->late_ticks += s->late_ticks;
        out->packets_in += s->packets_in;
        out->packets_out += s->packets_out;
        out->dropped_malformed += s->dropped_malformed;
        out->dropped_foreign += s->dropped_foreign;
        out->dropped_other += s->dropped_other;
        out->dropped_auth += s->dropped_auth;
        out->receive_calls += s->receive_calls;
        out->send_calls += s->send_calls;
        uint32_t recent = w->tick_max_cur > w->tick_max_prev ? w->tick_max_cur : w->tick_max_prev;
        if (recent > out->tick_max_us) out->tick_max_us = recent;
        if (s->tick_max_ever_us > out->tick_max_ever_us)
            out->tick_max_ever_us = s->tick_max_ever_us;
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_lock(&e->ev_lock);
    out->events_dropped = e->events_dropped;
    pthread_mutex_unlock(&e->ev_lock);
    return 0;
}

int engine_get_leg_stats(engine *e, uint32_t id, engine_leg_stats *out) {
    leg *l = lock_leg(e, id);
    if (l) {
        jitter_stats js;
        jitter_get_stats(l->jb, &js);
        *out = l->st;
        out->lost = l->have_ssrc && rtp_rx_lost(&l->rx) > 0 ? (uint32_t)rtp_rx_lost(&l->rx) : 0;
        out->jitter_ms = l->have_ssrc ? rtp_rx_jitter(&l->rx) / 8 : 0;
        out->buffer_ms = js.depth_ts / 8;
        out->target_ms = js.target_ts / 8;
        out->concealed = js.concealed;
        out->thread = (uint16_t)l->worker;
    }
    unlock_leg(e, l);
    return l ? 0 : -ENOENT;
}
