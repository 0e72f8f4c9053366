/* The media engine: legs (UDP RTP/RTCP), conferences, playback; one thread, a 20 ms mixing tick
 * and a 10 ms pacing grid on which every leg sends one packet per packet time. */
#define _GNU_SOURCE
#include "engine.h"
#include "dtmf_detect.h"
#include "talk_detect.h"
#include "fixed.h"
#include "g711.h"
#include "g722.h"
#include "jitter.h"
#include "mixer.h"
#include "resample.h"
#include "rtp.h"
#include "srtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_US           20000
#define PACE_US           10000 /* the timer's period: packets of any ptime leave on this grid */
#define PACES_PER_TICK    (TICK_US / PACE_US)
#define FRAME_NB          160  /* samples per tick at 8 kHz; also octets per tick, every codec */
#define FRAME_WB          320  /* samples per tick at 16 kHz */
#define EVENT_RING        1024 /* power of two */
#define MAX_DATAGRAM      2048
#define OUTQ              (60 * 8 + FRAME_NB)
#define RECV_BATCH        32 /* packets per wake-up per socket, so one leg cannot starve others */
#define MAX_CATCHUP       6  /* timer periods run at once after the thread was late */
#define RTCP_INTERVAL_US  5000000
#define OVERRUN_REPORT_US 1000000
#define VAD_HANGOVER      10 /* ticks a talker stays mixed after falling below the VAD level */
#define LATCH_QUIET_MS    2000
#define UNANSWERED_MS     10000
#define TICKS_PER_SECOND  50
#define EV_TIMER          UINT64_MAX
#define EV_WAKE           (UINT64_MAX - 1)

typedef struct {
    int16_t *pcm8, *pcm16;
    size_t frames; /* 20 ms frames, the last one zero-padded */
} sound;

typedef struct {
    int active;
    uint32_t id, sound;
    unsigned flags;
    size_t frame;
} playback;

/* A conference's recording: its mix at 16 kHz in a ring the host drains (engine_read_recording). */
typedef struct {
    int member;    /* mixer member that never talks: it hears the whole mix */
    resampler *up; /* 8 kHz mixes are recorded at 16 kHz too */
    int16_t *ring;
    size_t cap, head, len; /* samples; head: the oldest */
    uint64_t dropped;      /* samples the host did not take in time */
} recording;

typedef struct {
    int used, wb;
    uint32_t id;
    mixer *mx;
    uint32_t *members; /* leg slots */
    unsigned n_members, cap;
    int sound_member; /* mixer member through which a mixed playback is heard */
    playback play;
    recording *rec; /* the conference's mix kept for the host, or NULL */
} conference;

typedef struct {
    uint32_t id;
    int rtp_fd, rtcp_fd;
    uint16_t port;
    engine_leg_options o;
    int wb;
    int connected, has_remote, has_lock, has_rtcp_src;
    struct sockaddr_storage remote, locked, rtcp_src;
    socklen_t remote_len, locked_len, rtcp_src_len;
    uint32_t out_ssrc, out_ts;
    uint16_t out_seq;
    int marker_next;
    unsigned pace_wait; /* timer periods until the next packet may leave */
    uint8_t outq[OUTQ];
    unsigned outq_len;
    uint32_t sent_packets, sent_octets;
    int have_ssrc;
    uint32_t in_ssrc;
    rtp_rx_stats rx;
    rtp_dtmf_state dtmf;
    dtmf_detector tones; /* in-band keys of the decoded audio */
    dtmf_sources keys;   /* one digit per press from events and tones */
    talk_detector talk;  /* whether the leg is talking, and whether its line is noisy */
    jitter *jb;
    g722_encoder *enc;
    g722_decoder *dec;
    resampler *up, *down;
    int conf, member, muted;
    unsigned vad_hang;
    playback play;
    uint64_t last_rx_us, next_rtcp_us;
    int timed_out;
    uint64_t connected_us;   /* when the leg was pointed at its current host */
    rtpsec *tx_sec, *rx_sec; /* SRTP of what the leg sends and receives; NULL: plain RTP */
    engine_leg_stats st;
    local_audio *la; /* a local leg's sound card; NULL for RTP legs */
    echo_cancel
        *ec; /* a local leg's echo canceller (the speaker heard by the microphone); NULL: none */
} leg;

struct engine {
    engine_config cfg;
    char cname[64];
    struct sockaddr_storage bind_addr;
    socklen_t bind_len;
    int epfd, tfd, wakefd;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock;      /* legs, conferences, sounds, stats */
    pthread_mutex_t port_lock; /* port cursor */
    uint16_t port_cursor;
    leg **legs;
    uint16_t *gen;
    conference *confs;
    unsigned max_legs;
    sound *sounds;
    unsigned n_sounds, cap_sounds;
    uint32_t next_playback;
    engine_event ring[EVENT_RING];
    atomic_uint ev_head, ev_tail;
    int notify_pending;
    uint64_t late_pending, last_overrun_us;
    uint64_t now_us;     /* start of the current tick */
    uint64_t paces;      /* timer periods run; every PACES_PER_TICK-th is a tick */
    uint64_t late_paces; /* timer periods missed */
    uint32_t tick_max_cur,
        tick_max_prev; /* longest tick of this second so far, and of the one before */
    engine_stats st;
    /* media-thread scratch */
    int16_t in_leg[FRAME_WB], in_conf[FRAME_WB], out_leg[FRAME_WB], leg_play[FRAME_WB];
    int16_t conf_play[FRAME_WB];
    uint8_t shared_enc[2][FRAME_NB];
};

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t random32(void) {
    uint32_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)mono_us() * 2654435761u; /* entropy not ready: any value will do for SSRC */
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

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    uint8_t ha[16], hb[16];
    uint16_t pa, pb;
    host_of(a, ha, &pa);
    host_of(b, hb, &pb);
    return memcmp(ha, hb, 16) == 0;
}

static int same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
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

static void set_port(struct sockaddr_storage *a, uint16_t port) {
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *a) {
    uint8_t h[16];
    uint16_t p;
    host_of(a, h, &p);
    return p;
}

/* ---- events (single producer: the media thread) ---- */

static void push_event(engine *e, const engine_event *ev) {
    unsigned head = atomic_load_explicit(&e->ev_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&e->ev_tail, memory_order_acquire);
    if (head - tail >= EVENT_RING) {
        e->st.events_dropped++;
        return;
    }
    e->ring[head % EVENT_RING] = *ev;
    atomic_store_explicit(&e->ev_head, head + 1, memory_order_release);
    e->notify_pending = 1;
}

size_t engine_poll_events(engine *e, engine_event *ev, size_t max) {
    unsigned tail = atomic_load_explicit(&e->ev_tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&e->ev_head, memory_order_acquire);
    size_t n = 0;
    while (tail != head && n < max) ev[n++] = e->ring[tail++ % EVENT_RING];
    atomic_store_explicit(&e->ev_tail, tail, memory_order_release);
    return n;
}

/* ---- legs ---- */

static leg *find_leg(engine *e, uint32_t id) {
    uint32_t slot = id & 0xFFFF;
    if (slot >= e->max_legs || !e->legs[slot] || e->legs[slot]->id != id) return NULL;
    return e->legs[slot];
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
    struct sockaddr_storage a = e->bind_addr;
    set_port(&a, port);
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

/* A leg with its codec state and jitter buffer, and no sockets yet. */
static leg *new_leg(const engine_leg_options *opts) {
    leg *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->rtp_fd = l->rtcp_fd = -1;
    l->o = *opts;
    l->wb = opts->codec == ENGINE_CODEC_G722;
    l->conf = l->member = -1;
    l->out_ssrc = random32();
    l->out_seq = (uint16_t)random32();
    l->out_ts = random32();
    l->marker_next = 1;
    talk_detect_init(&l->talk);
    l->enc = g722_encoder_create();
    l->dec = g722_decoder_create();
    l->up = resampler_create(RESAMPLE_UP);
    l->down = resampler_create(RESAMPLE_DOWN);
    l->jb = new_jitter(l, l->wb);
    if (!l->enc || !l->dec || !l->up || !l->down || !l->jb) {
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
    if (l->rtp_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = (uint64_t)l->id << 1;
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, l->rtp_fd, &ev);
        ev.data.u64 = (uint64_t)l->id << 1 | 1;
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, l->rtcp_fd, &ev);
    }
    e->legs[slot] = l;
    e->st.legs++;
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
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : 0;
    if (rc == 0) local_audio_get_status(l->la, out);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int engine_local_echo_active(engine *e, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : l->ec != NULL;
    pthread_mutex_unlock(&e->lock);
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
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    int rc = !l ? -ENOENT : !l->la ? -EINVAL : 0;
    if (rc == 0) {
        echo_cancel *old = l->ec;
        l->ec = ec;
        ec = old;
    }
    pthread_mutex_unlock(&e->lock);
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
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (!l || l->la) {
        pthread_mutex_unlock(&e->lock);
        return l ? -EINVAL : -ENOENT;
    }
    /* made under the lock, against the leg's current keys (a key schedule takes microseconds) */
    rtpsec *tx = NULL, *rx = NULL;
    if (opts && (rc = make_srtp(&l->o, opts, &tx, &rx)) != 0) {
        pthread_mutex_unlock(&e->lock);
        return rc;
    }
    int wb = opts ? opts->codec == ENGINE_CODEC_G722 : l->wb;
    jitter *fresh = NULL;
    if (wb != l->wb || (opts && opts->codec != l->o.codec)) {
        fresh = new_jitter(l, wb); /* the codec changed: buffered payloads are of the old one */
        if (!fresh) {
            pthread_mutex_unlock(&e->lock);
            rtpsec_destroy(tx);
            rtpsec_destroy(rx);
            return -ENOMEM;
        }
    }
    uint64_t now = mono_us();
    if (!l->has_remote || !same_endpoint(&l->remote, &addr)) {
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
        g722_encoder_reset(l->enc);
        g722_decoder_reset(l->dec);
        l->outq_len = 0;
        if (l->conf >= 0) conf_update_rate(e, &e->confs[l->conf]);
    }
    unsigned step = l->o.ptime_ms ? l->o.ptime_ms / 10 : 2;
    if (l->pace_wait > step) l->pace_wait = step; /* a shorter ptime takes effect at once */
    pthread_mutex_unlock(&e->lock);
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

/* Appends a tick of the conference's mix (n samples at 8 or 16 kHz) to its recording. */
static void recording_put(recording *r, const int16_t *mix, int n) {
    int16_t wide[FRAME_WB];
    const int16_t *pcm = mix;
    if (n == FRAME_NB) {
        resampler_process(r->up, mix, FRAME_NB, wide);
        pcm = wide;
    }
    for (int i = 0; i < FRAME_WB; i++) {
        if (r->len == r->cap) { /* the host is late: the oldest audio goes */
            r->head = (r->head + 1) % r->cap;
            r->len--;
            r->dropped++;
        }
        r->ring[(r->head + r->len) % r->cap] = pcm[i];
        r->len++;
    }
}

static conference *find_conf(engine *e, uint32_t id) {
    for (unsigned i = 0; i < e->max_legs; i++)
        if (e->confs[i].used && e->confs[i].id == id) return &e->confs[i];
    return NULL;
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
    recording_free(c->rec);
    mixer_destroy(c->mx);
    free(c->members);
    memset(c, 0, sizeof *c);
    e->st.conferences--;
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

int engine_join(engine *e, uint32_t id, uint32_t conf_id) {
    int rc = 0;
    conference *c = NULL;
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (!l) {
        rc = -ENOENT;
        goto out;
    }
    if (l->conf >= 0 && e->confs[l->conf].id == conf_id) goto out;
    leave_locked(e, l);
    c = find_conf(e, conf_id);
    if (!c) {
        unsigned i = 0;
        while (i < e->max_legs && e->confs[i].used) i++;
        if (i == e->max_legs) {
            rc = -EMFILE;
            goto out;
        }
        c = &e->confs[i];
        memset(c, 0, sizeof *c);
        c->mx = mixer_create(FRAME_NB);
        if (!c->mx) {
            c = NULL;
            rc = -ENOMEM;
            goto out;
        }
        c->sound_member = mixer_add(c->mx);
        c->used = 1;
        c->id = conf_id;
        e->st.conferences++;
    }
    if (c->n_members == c->cap) {
        unsigned cap = c->cap ? 2 * c->cap : 8;
        uint32_t *m = realloc(c->members, cap * sizeof *m);
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
        c->members = m;
        c->cap = cap;
    }
    int member = mixer_add(c->mx);
    if (member < 0) {
        rc = -ENOMEM;
        goto out;
    }
    c->members[c->n_members++] = l->id & 0xFFFF;
    l->conf = (int)(c - e->confs);
    l->member = member;
    mixer_set_muted(c->mx, member, l->muted);
    resampler_reset(l->up);
    resampler_reset(l->down);
    conf_update_rate(e, c);
out:
    /* a conference made for this join would be left without members */
    if (rc && c && c->used && c->n_members == 0) free_conf(e, c);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int engine_leave(engine *e, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (l) leave_locked(e, l);
    pthread_mutex_unlock(&e->lock);
    return l ? 0 : -ENOENT;
}

int engine_set_muted(engine *e, uint32_t id, int muted) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (l) {
        l->muted = muted != 0;
        if (l->conf >= 0) mixer_set_muted(e->confs[l->conf].mx, l->member, l->muted);
    }
    pthread_mutex_unlock(&e->lock);
    return l ? 0 : -ENOENT;
}

int engine_close_leg(engine *e, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (l) {
        leave_locked(e, l);
        e->legs[id & 0xFFFF] = NULL;
        e->st.legs--;
        if (l->rtp_fd >= 0) {
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, l->rtp_fd, NULL);
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, l->rtcp_fd, NULL);
        }
    }
    pthread_mutex_unlock(&e->lock);
    free_leg(l); /* unreachable now: the media thread finds legs by id under the lock */
    return l ? 0 : -ENOENT;
}

/* ---- sounds and playback ---- */

int engine_add_sound(engine *e, const int16_t *pcm, size_t samples, unsigned rate, uint32_t *id) {
    if ((rate != 8000 && rate != 16000) || samples == 0) return -EINVAL;
    size_t n8 = rate == 8000 ? samples : (samples + 1) / 2;
    size_t frames = (n8 + FRAME_NB - 1) / FRAME_NB;
    int16_t *p8 = calloc(frames * FRAME_NB, sizeof *p8),
            *p16 = calloc(frames * FRAME_WB, sizeof *p16);
    resampler *r = resampler_create(rate == 8000 ? RESAMPLE_UP : RESAMPLE_DOWN);
    if (!p8 || !p16 || !r) {
        free(p8);
        free(p16);
        resampler_destroy(r);
        return -ENOMEM;
    }
    int16_t *src = rate == 8000 ? p8 : p16, *dst = rate == 8000 ? p16 : p8;
    memcpy(src, pcm, samples * sizeof *pcm);
    size_t chunk = rate == 8000 ? FRAME_NB : FRAME_WB; /* the padded source is whole frames */
    for (size_t f = 0; f < frames; f++)
        resampler_process(r, src + f * chunk, chunk,
                          dst + f * (rate == 8000 ? FRAME_WB : FRAME_NB));
    resampler_destroy(r);
    pthread_mutex_lock(&e->lock);
    if (e->n_sounds == e->cap_sounds) {
        unsigned cap = e->cap_sounds ? 2 * e->cap_sounds : 16;
        sound *s = realloc(e->sounds, cap * sizeof *s);
        if (!s) {
            pthread_mutex_unlock(&e->lock);
            free(p8);
            free(p16);
            return -ENOMEM;
        }
        e->sounds = s;
        e->cap_sounds = cap;
    }
    e->sounds[e->n_sounds] = (sound){p8, p16, frames};
    *id = e->n_sounds++;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

static playback *target_playback(engine *e, engine_target target, uint32_t id) {
    if (target == ENGINE_TARGET_LEG) {
        leg *l = find_leg(e, id);
        return l ? &l->play : NULL;
    }
    conference *c = find_conf(e, id);
    return c ? &c->play : NULL;
}

int engine_record(engine *e, uint32_t conf_id, uint32_t seconds) {
    if (seconds == 0 || seconds > 60) return -EINVAL;
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    conference *c = find_conf(e, conf_id);
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
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int engine_read_recording(engine *e, uint32_t conf_id, int16_t *pcm, size_t max, size_t *got,
                          uint64_t *dropped) {
    pthread_mutex_lock(&e->lock);
    conference *c = find_conf(e, conf_id);
    recording *r = c ? c->rec : NULL;
    size_t n = 0;
    if (r) {
        for (; n < max && r->len; n++, r->len--) {
            pcm[n] = r->ring[r->head];
            r->head = (r->head + 1) % r->cap;
        }
        if (dropped) *dropped = r->dropped;
    }
    pthread_mutex_unlock(&e->lock);
    *got = n;
    return r ? 0 : -ENOENT;
}

int engine_record_stop(engine *e, uint32_t conf_id) {
    pthread_mutex_lock(&e->lock);
    conference *c = find_conf(e, conf_id);
    recording *r = c ? c->rec : NULL;
    if (r) {
        mixer_remove(c->mx, r->member);
        recording_free(r);
        c->rec = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    return r ? 0 : -ENOENT;
}

int engine_play(engine *e, engine_target target, uint32_t id, uint32_t snd, unsigned flags,
                uint32_t *playback_id) {
    pthread_mutex_lock(&e->lock);
    playback *p = snd < e->n_sounds ? target_playback(e, target, id) : NULL;
    if (p) {
        if (++e->next_playback == 0) e->next_playback = 1;
        *p = (playback){1, e->next_playback, snd, flags, 0};
        if (playback_id) *playback_id = p->id;
    }
    pthread_mutex_unlock(&e->lock);
    return p ? 0 : snd < e->n_sounds ? -ENOENT : -EINVAL;
}

int engine_stop(engine *e, engine_target target, uint32_t id) {
    pthread_mutex_lock(&e->lock);
    playback *p = target_playback(e, target, id);
    if (p) p->active = 0;
    pthread_mutex_unlock(&e->lock);
    return p ? 0 : -ENOENT;
}

/* Copies the playback's current frame at 8 or 16 kHz into out; 0 if nothing is playing. */
static int play_frame(engine *e, const playback *p, int wb, int16_t *out) {
    if (!p->active) return 0;
    const sound *s = &e->sounds[p->sound];
    size_t n = wb ? FRAME_WB : FRAME_NB;
    memcpy(out, (wb ? s->pcm16 : s->pcm8) + p->frame * n, n * sizeof *out);
    return 1;
}

static void play_advance(engine *e, playback *p, engine_target target, uint32_t id) {
    if (!p->active || ++p->frame < e->sounds[p->sound].frames) return;
    if (p->flags & ENGINE_PLAY_LOOP) {
        p->frame = 0;
        return;
    }
    p->active = 0;
    engine_event ev = {.type = ENGINE_EVENT_PLAYED, .playback = p->id};
    if (target == ENGINE_TARGET_LEG)
        ev.leg = id;
    else
        ev.conference = id;
    push_event(e, &ev);
}

/* ---- media path ---- */

/* Whether the leg may send: it received RTP from its peer, or was connected to it only recently
 * (a forged offer cannot make the box send to a stranger for long). */
static int answered(const engine *e, const leg *l, uint64_t now) {
    return l->has_lock || now < l->connected_us ||
           now - l->connected_us < (uint64_t)e->cfg.unanswered_ms * 1000u;
}

/* Sends the first plen octets of the queue as one packet (to nobody when the leg may not send:
 * its timestamps still advance with the time). */
static void send_packet(engine *e, leg *l, unsigned plen) {
    const struct sockaddr_storage *dst = NULL;
    socklen_t dlen = 0;
    if (l->o.direction & ENGINE_DIR_NO_SEND) {
        /* on hold: nothing goes to the caller */
    } else if (l->o.symmetric && l->has_lock) {
        dst = &l->locked;
        dlen = l->locked_len;
    } else if (l->has_remote && answered(e, l, e->now_us)) {
        dst = &l->remote;
        dlen = l->remote_len;
    }
    _Alignas(8) uint8_t pkt[12 + OUTQ + RTPSEC_OVERHEAD];
    rtp_header h = {0};
    h.marker = (uint8_t)l->marker_next;
    h.payload_type = l->o.payload_type;
    h.seq = l->out_seq;
    h.timestamp = l->out_ts;
    h.ssrc = l->out_ssrc;
    size_t hl = rtp_write_header(pkt, sizeof pkt, &h);
    memcpy(pkt + hl, l->outq, plen);
    size_t n = hl + plen;
    if (dst && l->tx_sec && rtpsec_protect(l->tx_sec, pkt, &n, sizeof pkt) != 0) n = 0;
    if (dst && n) {
        if (sendto(l->rtp_fd, pkt, n, 0, (const struct sockaddr *)dst, dlen) >= 0) {
            l->st.packets_out++;
            l->st.bytes_out += plen;
            l->sent_packets++;
            l->sent_octets += plen;
            e->st.packets_out++;
        }
        l->out_seq++;
        l->marker_next = 0;
    }
    l->out_ts += plen; /* one timestamp unit per octet for G.711 and G.722 alike */
    l->outq_len -= plen;
    memmove(l->outq, l->outq + plen, l->outq_len);
}

/* One timer period of a leg's sending: a packet leaves when its packet time has passed since
 * the last one and the queue holds it; a queue a frame longer than that (after late ticks)
 * is sent at once, so that the delay stays bounded. */
static void pace_leg(engine *e, leg *l) {
    unsigned ptime = l->o.ptime_ms ? l->o.ptime_ms : 20, plen = ptime * 8;
    if (l->pace_wait) l->pace_wait--;
    while (l->outq_len >= plen && (l->pace_wait == 0 || l->outq_len >= plen + FRAME_NB)) {
        send_packet(e, l, plen);
        l->pace_wait = ptime * 1000u / PACE_US;
    }
}

/* Encodes (unless pre-encoded) one tick of the leg's audio into its send queue. */
static void leg_output(engine *e, leg *l, const int16_t *pcm, const uint8_t *encoded) {
    if (l->la) { /* the speaker takes the 16 kHz audio as it is; the echo canceller hears it too */
        if (pcm) local_audio_push(l->la, pcm);
        if (pcm && l->ec) echo_cancel_far(l->ec, pcm);
        return;
    }
    unsigned plen = (l->o.ptime_ms ? l->o.ptime_ms : 20) * 8;
    while (l->outq_len + FRAME_NB > OUTQ && l->outq_len >= plen) send_packet(e, l, plen);
    uint8_t *q = l->outq + l->outq_len;
    if (encoded)
        memcpy(q, encoded, FRAME_NB);
    else if (l->o.codec == ENGINE_CODEC_G722)
        g722_encode(l->enc, pcm, FRAME_WB, q);
    else if (l->o.codec == ENGINE_CODEC_PCMA)
        g711_alaw_encode_buf(pcm, FRAME_NB, q);
    else
        g711_ulaw_encode_buf(pcm, FRAME_NB, q);
    l->outq_len += FRAME_NB;
}

/* Keys heard in a leg's audio, also when muted. Every RTP leg listens, with telephone-event or
 * without: gateways that negotiate it may still pass a caller's tones in-band, and a press that
 * comes both ways is reported once (dtmf_sources). */
static void in_band_keys(engine *e, leg *l, const int16_t *pcm) {
    char key = dtmf_detect(&l->tones, pcm, l->wb ? FRAME_WB : FRAME_NB, l->wb ? 16000 : 8000);
    key = dtmf_sources_tone(&l->keys, dtmf_detect_current(&l->tones), key, e->now_us);
    if (key) {
        engine_event out = {.type = ENGINE_EVENT_DTMF, .leg = l->id, .digit = key};
        push_event(e, &out);
    }
}

/* Whether the leg talks (muted legs too: the page shows a muted person trying to speak) and
 * whether its line is noisy; a change is an event. */
static void talking(engine *e, leg *l, const int16_t *pcm) {
    unsigned before = l->talk.state;
    unsigned now = talk_detect(&l->talk, pcm, pcm ? (l->wb ? FRAME_WB : FRAME_NB) : 0);
    if (now == before) return;
    engine_event out = {.type = ENGINE_EVENT_TALK, .leg = l->id, .count = now};
    push_event(e, &out);
}

/* Pulls the leg's next frame (leg rate) into e->in_leg; returns 1 if it should be mixed. */
static int leg_input(engine *e, leg *l) {
    jitter_status s = l->la ? (local_audio_pull(l->la, e->in_leg) ? JITTER_FRAME : JITTER_SILENCE)
                            : jitter_get(l->jb, e->in_leg);
    if (l->ec && s != JITTER_SILENCE) echo_cancel_near(l->ec, e->in_leg, e->in_leg);
    if (!l->la) in_band_keys(e, l, s == JITTER_SILENCE ? NULL : e->in_leg);
    talking(e, l, s == JITTER_SILENCE ? NULL : e->in_leg);
    if (s == JITTER_SILENCE || l->muted) return 0;
    if (!e->cfg.vad_level) return 1;
    int n = l->wb ? FRAME_WB : FRAME_NB;
    uint32_t sum = 0;
    for (int i = 0; i < n; i++) sum += (uint32_t)abs(e->in_leg[i]);
    if (sum >= e->cfg.vad_level * (uint32_t)n) {
        l->vad_hang = VAD_HANGOVER;
        return 1;
    }
    if (l->vad_hang) {
        l->vad_hang--;
        return 1;
    }
    return 0;
}

static void conf_tick(engine *e, conference *c) {
    int n = c->wb ? FRAME_WB : FRAME_NB;
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = e->legs[c->members[i]];
        if (!leg_input(e, l)) continue;
        const int16_t *frame = e->in_leg;
        if (c->wb && !l->wb) {
            resampler_process(l->up, e->in_leg, FRAME_NB, e->in_conf);
            frame = e->in_conf;
        }
        mixer_put(c->mx, l->member, frame);
    }
    int conf_sound = play_frame(e, &c->play, c->wb, e->conf_play);
    int conf_replace = conf_sound && (c->play.flags & ENGINE_PLAY_REPLACE);
    if (conf_sound && !conf_replace) mixer_put(c->mx, c->sound_member, e->conf_play);
    mixer_mix(c->mx);
    if (c->rec) { /* what a listener who says nothing hears */
        int shared;
        recording_put(c->rec,
                      conf_replace ? e->conf_play : mixer_get(c->mx, c->rec->member, NULL, &shared),
                      n);
    }

    int have_enc[2] = {0, 0};
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = e->legs[c->members[i]];
        int leg_sound = l->play.active;
        if (leg_sound && (l->play.flags & ENGINE_PLAY_REPLACE)) {
            play_frame(e, &l->play, l->wb, e->leg_play);
            leg_output(e, l, e->leg_play, NULL);
            continue;
        }
        const int16_t *out;
        int shared = 0;
        if (conf_replace && !leg_sound) {
            out = e->conf_play;
            shared = 1;
        } else {
            const int16_t *extra = NULL;
            if (leg_sound) {
                play_frame(e, &l->play, c->wb, e->leg_play);
                extra = e->leg_play;
            }
            if (conf_replace) {
                for (int j = 0; j < n; j++) e->out_leg[j] = SAT16(e->conf_play[j] + extra[j]);
                out = e->out_leg;
            } else {
                out = mixer_get(c->mx, l->member, extra, &shared);
            }
        }
        if (c->wb && !l->wb) { /* the leg's own decimator keeps its stream continuous */
            resampler_process(l->down, out, FRAME_WB, e->out_leg);
            out = e->out_leg;
            shared = 0;
        }
        int k = l->o.codec == ENGINE_CODEC_PCMA;
        if (shared && l->o.codec != ENGINE_CODEC_G722 &&
            !l->la) { /* G.711 is stateless: encode once */
            if (!have_enc[k]) {
                if (k)
                    g711_alaw_encode_buf(out, FRAME_NB, e->shared_enc[k]);
                else
                    g711_ulaw_encode_buf(out, FRAME_NB, e->shared_enc[k]);
                have_enc[k] = 1;
            }
            leg_output(e, l, NULL, e->shared_enc[k]);
        } else {
            leg_output(e, l, out, NULL);
        }
    }
    play_advance(e, &c->play, ENGINE_TARGET_CONFERENCE, c->id);
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = e->legs[c->members[i]];
        play_advance(e, &l->play, ENGINE_TARGET_LEG, l->id);
    }
}

/* A leg outside any conference hears its playback or silence; its input is drained. */
static void solo_tick(engine *e, leg *l) {
    leg_input(e, l);
    int n = l->wb ? FRAME_WB : FRAME_NB;
    if (!play_frame(e, &l->play, l->wb, e->leg_play))
        memset(e->leg_play, 0, (size_t)n * sizeof(int16_t));
    leg_output(e, l, e->leg_play, NULL);
    play_advance(e, &l->play, ENGINE_TARGET_LEG, l->id);
}

static uint64_t ntp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sec = (uint64_t)ts.tv_sec + 2208988800u; /* 1900 to 1970 */
    return sec << 32 | (((uint64_t)ts.tv_nsec << 32) / 1000000000u);
}

static void send_rtcp(engine *e, leg *l, uint64_t now) {
    struct sockaddr_storage dst;
    socklen_t dlen;
    if (l->o.symmetric && l->has_rtcp_src) {
        dst = l->rtcp_src;
        dlen = l->rtcp_src_len;
    } else if (l->o.symmetric && l->has_lock) {
        dst = l->locked;
        dlen = l->locked_len;
        set_port(&dst, (uint16_t)(get_port(&l->locked) + 1));
    } else if (l->has_remote && answered(e, l, now)) {
        dst = l->remote;
        dlen = l->remote_len;
        set_port(&dst, (uint16_t)(get_port(&l->remote) + 1));
    } else {
        return;
    }
    _Alignas(8) uint8_t buf[256 + RTPSEC_OVERHEAD];
    rtcp_sender_info si = {ntp_now(), l->out_ts, l->sent_packets, l->sent_octets};
    size_t n = rtcp_build_report(buf, 256, l->out_ssrc, l->sent_packets ? &si : NULL,
                                 l->have_ssrc ? &l->rx : NULL, now, e->cname);
    if (n && l->tx_sec && rtpsec_protect_rtcp(l->tx_sec, buf, &n, sizeof buf) != 0) n = 0;
    if (n) sendto(l->rtcp_fd, buf, n, 0, (const struct sockaddr *)&dst, dlen);
}

static void leg_housekeeping(engine *e, leg *l, uint64_t now) {
    if (!l->connected) return;
    uint32_t timeout = l->o.rtp_timeout_ms ? l->o.rtp_timeout_ms : e->cfg.rtp_timeout_ms;
    /* a held caller is silent by right: only the signalling ends its call */
    if (l->o.direction & ENGINE_DIR_NO_RECEIVE) timeout = UINT32_MAX;
    if (timeout != UINT32_MAX && !l->timed_out && now - l->last_rx_us > (uint64_t)timeout * 1000u) {
        l->timed_out = 1;
        engine_event ev = {.type = ENGINE_EVENT_RTP_TIMEOUT, .leg = l->id};
        push_event(e, &ev);
    }
    if (now >= l->next_rtcp_us) {
        if (l->next_rtcp_us) send_rtcp(e, l, now);
        /* RFC 3550 6.3.5: randomise to 0.5-1.5 times the interval */
        l->next_rtcp_us = now + RTCP_INTERVAL_US / 2 + random32() % RTCP_INTERVAL_US;
    }
}

static void run_tick(engine *e) {
    uint64_t start = mono_us();
    e->now_us = start;
    e->st.ticks++;
    for (unsigned i = 0; i < e->max_legs; i++)
        if (e->confs[i].used) conf_tick(e, &e->confs[i]);
    for (unsigned i = 0; i < e->max_legs; i++) {
        leg *l = e->legs[i];
        if (!l) continue;
        if (l->conf < 0) solo_tick(e, l);
        if (l->la) {
            local_audio_tick(l->la);
            local_audio_state state;
            if (local_audio_take_changed(l->la, &state)) {
                engine_event ev = {.type = ENGINE_EVENT_LOCAL, .leg = l->id, .count = state};
                push_event(e, &ev);
            }
            continue;
        }
        leg_housekeeping(e, l, start);
    }
    uint32_t took = (uint32_t)(mono_us() - start);
    if (took > e->tick_max_cur) e->tick_max_cur = took;
    if (took > e->st.tick_max_ever_us) e->st.tick_max_ever_us = took;
    if (e->st.ticks % TICKS_PER_SECOND ==
        0) { /* a new second: the longest tick is of this one and the last */
        e->tick_max_prev = e->tick_max_cur;
        e->tick_max_cur = 0;
    }
}

/* One timer period: a tick every PACES_PER_TICK periods, then every RTP leg's packets that are due.
 */
static void run_pace(engine *e) {
    if (e->paces++ % PACES_PER_TICK == 0) run_tick(e);
    for (unsigned i = 0; i < e->max_legs; i++) {
        leg *l = e->legs[i];
        if (l && !l->la && l->connected) pace_leg(e, l);
    }
}

/* Counts an SRTP/SRTCP packet that did not unprotect. */
static void srtp_refused(engine *e, leg *l, int rc) {
    if (rc == -EBADMSG) {
        l->st.dropped_auth++;
        e->st.dropped_auth++;
    } else if (rc == -EALREADY) {
        l->st.dropped_other++;
        e->st.dropped_other++;
    } else {
        l->st.dropped_malformed++;
        e->st.dropped_malformed++;
    }
}

static void handle_rtcp(engine *e, leg *l, uint8_t *buf, size_t n,
                        const struct sockaddr_storage *src, socklen_t slen, uint64_t now) {
    int from_peer = l->has_lock ? same_host(src, &l->locked)
                                : l->o.symmetric || (l->has_remote && same_host(src, &l->remote));
    if (!from_peer) {
        l->st.dropped_foreign++;
        e->st.dropped_foreign++;
        return;
    }
    int rc;
    if (l->rx_sec && (rc = rtpsec_unprotect_rtcp(l->rx_sec, buf, &n)) != 0) {
        srtp_refused(e, l, rc);
        return;
    }
    rtcp_info info;
    if (rtcp_parse(buf, n, &info) != RTP_OK) {
        l->st.dropped_malformed++;
        e->st.dropped_malformed++;
        return;
    }
    l->rtcp_src = *src;
    l->rtcp_src_len = slen;
    l->has_rtcp_src = 1;
    if (info.has_sr && l->have_ssrc && info.ssrc == l->in_ssrc) {
        l->rx.last_sr = (uint32_t)(info.ntp >> 16);
        l->rx.last_sr_us = now;
    }
    for (int i = 0; i < info.n_blocks; i++)
        if (info.blocks[i].ssrc == l->out_ssrc) {
            l->st.remote_lost = info.blocks[i].lost > 0 ? (uint32_t)info.blocks[i].lost : 0;
            l->st.remote_jitter_ms = info.blocks[i].jitter / 8;
        }
}

static void handle_rtp(engine *e, leg *l, uint8_t *buf, size_t n,
                       const struct sockaddr_storage *src, socklen_t slen, uint64_t now) {
    if (rtp_is_rtcp(buf, n)) { /* RTCP multiplexed on the RTP port (RFC 5761) */
        handle_rtcp(e, l, buf, n, src, slen, now);
        return;
    }
    /* strict RTP: the first source from the signalled host (any host, if symmetric) is kept;
     * another one takes its place only when it has been silent for latch_quiet_ms, so a forged
     * packet cannot take a running stream */
    int locked = l->has_lock && same_endpoint(src, &l->locked);
    int latch = !locked && (l->o.symmetric || (l->has_remote && same_host(src, &l->remote))) &&
                (!l->has_lock || now - l->last_rx_us >= (uint64_t)e->cfg.latch_quiet_ms * 1000u);
    /* the exact address and port of the SDP may always take the stream (media moved to it) */
    if (!locked && l->has_remote && same_endpoint(src, &l->remote)) latch = 1;
    if (!locked && !latch) {
        l->st.dropped_foreign++;
        e->st.dropped_foreign++;
        return;
    }
    int rc;
    if (l->rx_sec && (rc = rtpsec_unprotect(l->rx_sec, buf, &n)) != 0) {
        srtp_refused(e, l, rc);
        return;
    }
    rtp_header h;
    if (rtp_parse(buf, n, &h) != RTP_OK) {
        l->st.dropped_malformed++;
        e->st.dropped_malformed++;
        return;
    }
    if (latch) {
        if (l->has_lock) l->st.relatches++;
        l->locked = *src;
        l->locked_len = slen;
        l->has_lock = 1;
    }
    if (!l->have_ssrc || h.ssrc != l->in_ssrc) {
        if (l->have_ssrc) l->st.ssrc_changes++;
        l->have_ssrc = 1;
        l->in_ssrc = h.ssrc;
        jitter_reset(l->jb);
        g722_decoder_reset(l->dec);
        rtp_rx_init(&l->rx, h.ssrc, h.seq);
        rtp_dtmf_reset(&l->dtmf);
        dtmf_detector_reset(&l->tones);
    }
    uint32_t arrival = (uint32_t)(now * 8 / 1000); /* 8 kHz RTP clock for all our codecs */
    rtp_rx_update(&l->rx, h.seq, h.timestamp, arrival);
    l->last_rx_us = now;
    l->timed_out = 0;
    l->st.bytes_in += h.payload_len;
    if (l->o.dtmf_payload_type >= 0 && h.payload_type == l->o.dtmf_payload_type) {
        rtp_telephone_event ev;
        if (rtp_parse_telephone_event(h.payload, h.payload_len, &ev) != RTP_OK) {
            l->st.dropped_malformed++;
            e->st.dropped_malformed++;
            return;
        }
        char digit = rtp_dtmf_feed(&l->dtmf, h.ssrc, h.timestamp, &ev);
        digit = dtmf_sources_event(&l->keys, rtp_event_digit(ev.event), digit, now);
        if (digit) {
            engine_event out = {.type = ENGINE_EVENT_DTMF, .leg = l->id, .digit = digit};
            push_event(e, &out);
        }
        l->st.packets_in++;
        e->st.packets_in++;
        return;
    }
    if (l->o.direction & ENGINE_DIR_NO_RECEIVE) { /* accepted, and heard by nobody */
        l->st.packets_in++;
        e->st.packets_in++;
        return;
    }
    if (h.payload_type != l->o.payload_type || h.payload_len == 0 ||
        jitter_put(l->jb, h.seq, h.timestamp, h.payload, h.payload_len, (unsigned)h.payload_len,
                   arrival) != JITTER_OK) {
        l->st.dropped_other++;
        e->st.dropped_other++;
        return;
    }
    l->st.packets_in++;
    e->st.packets_in++;
}

static void receive(engine *e, uint64_t key) {
    uint32_t id = (uint32_t)(key >> 1);
    int rtcp = (int)(key & 1);
    leg *l = find_leg(e, id);
    if (!l) return;
    uint8_t buf[MAX_DATAGRAM];
    for (int i = 0; i < RECV_BATCH; i++) {
        struct sockaddr_storage src;
        socklen_t slen = sizeof src;
        ssize_t n = recvfrom(rtcp ? l->rtcp_fd : l->rtp_fd, buf, sizeof buf, MSG_TRUNC,
                             (struct sockaddr *)&src, &slen);
        if (n < 0) break;
        uint64_t now = mono_us();
        if (!l->connected) { /* no SDP yet: nobody is entitled to send here */
            l->st.dropped_foreign++;
            e->st.dropped_foreign++;
            continue;
        }
        if ((size_t)n > sizeof buf) { /* truncated by the kernel: larger than any valid packet */
            l->st.dropped_malformed++;
            e->st.dropped_malformed++;
            continue;
        }
        if (rtcp)
            handle_rtcp(e, l, buf, (size_t)n, &src, slen, now);
        else
            handle_rtp(e, l, buf, (size_t)n, &src, slen, now);
    }
}

static void *media_thread(void *arg) {
    engine *e = arg;
    if (e->cfg.rt_priority > 0) { /* best effort: needs CAP_SYS_NICE or an rtprio limit */
        struct sched_param sp = {.sched_priority = e->cfg.rt_priority};
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    }
    struct epoll_event evs[64];
    while (!atomic_load(&e->stop)) {
        int n = epoll_wait(e->epfd, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            uint64_t key = evs[i].data.u64;
            if (key == EV_WAKE) {
                uint64_t v;
                if (read(e->wakefd, &v, sizeof v) < 0) continue;
            } else if (key == EV_TIMER) {
                uint64_t exp = 0;
                if (read(e->tfd, &exp, sizeof exp) != (ssize_t)sizeof exp || exp == 0) continue;
                pthread_mutex_lock(&e->lock);
                if (exp > 1) { /* counted in 20 ms ticks, whatever the timer's period */
                    uint64_t before = e->late_paces / PACES_PER_TICK;
                    e->late_paces += exp - 1;
                    uint64_t late = e->late_paces / PACES_PER_TICK - before;
                    e->st.late_ticks += late;
                    e->late_pending += late;
                }
                for (uint64_t t = 0; t < exp && t < MAX_CATCHUP; t++) run_pace(e);
                uint64_t now = mono_us();
                if (e->late_pending && now - e->last_overrun_us >= OVERRUN_REPORT_US) {
                    engine_event ev = {.type = ENGINE_EVENT_OVERRUN,
                                       .count = (uint32_t)e->late_pending};
                    push_event(e, &ev);
                    e->late_pending = 0;
                    e->last_overrun_us = now;
                }
                pthread_mutex_unlock(&e->lock);
            } else {
                pthread_mutex_lock(&e->lock);
                receive(e, key);
                pthread_mutex_unlock(&e->lock);
            }
        }
        if (e->notify_pending) { /* set and read on this thread only */
            e->notify_pending = 0;
            if (e->cfg.notify) e->cfg.notify(e->cfg.notify_ctx);
        }
    }
    return NULL;
}

/* ---- lifecycle and stats ---- */

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
    if (e->cfg.max_legs > 0xFFFF || e->cfg.port_max <= e->cfg.port_min) goto fail;
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
    e->legs = calloc(e->max_legs, sizeof *e->legs);
    e->gen = calloc(e->max_legs, sizeof *e->gen);
    e->confs = calloc(e->max_legs, sizeof *e->confs);
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    rc = -ENOMEM;
    if (!e->legs || !e->gen || !e->confs) goto fail;
    rc = -errno;
    if (e->epfd < 0 || e->tfd < 0 || e->wakefd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = EV_TIMER;
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev);
    ev.data.u64 = EV_WAKE;
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev);
    /* absolute first expiry and a fixed interval: the kernel keeps the grid, no drift */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec its = {.it_interval = {0, PACE_US * 1000}, .it_value = now};
    its.it_value.tv_nsec += PACE_US * 1000;
    if (its.it_value.tv_nsec >= 1000000000) {
        its.it_value.tv_sec++;
        its.it_value.tv_nsec -= 1000000000;
    }
    if (timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        rc = -errno;
        goto fail;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->port_lock, NULL);
    if ((rc = pthread_create(&e->thread, NULL, media_thread, e)) != 0) {
        pthread_mutex_destroy(&e->lock);
        pthread_mutex_destroy(&e->port_lock);
        rc = -rc;
        goto fail;
    }
    /* Shown by top -H and ps -L; a supervisor or a test can find the media thread by it. */
    pthread_setname_np(e->thread, ENGINE_THREAD_NAME);
    *out = e;
    return 0;
fail:
    if (e->epfd > 0) close(e->epfd);
    if (e->tfd > 0) close(e->tfd);
    if (e->wakefd > 0) close(e->wakefd);
    free(e->legs);
    free(e->gen);
    free(e->confs);
    free(e);
    return rc;
}

void engine_destroy(engine *e) {
    if (!e) return;
    atomic_store(&e->stop, 1);
    uint64_t one = 1;
    if (write(e->wakefd, &one, sizeof one) < 0) { /* the thread also wakes on the next tick */
    }
    pthread_join(e->thread, NULL);
    for (unsigned i = 0; i < e->max_legs; i++)
        if (e->legs[i]) engine_close_leg(e, e->legs[i]->id);
    for (unsigned i = 0; i < e->n_sounds; i++) {
        free(e->sounds[i].pcm8);
        free(e->sounds[i].pcm16);
    }
    free(e->sounds);
    close(e->epfd);
    close(e->tfd);
    close(e->wakefd);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->port_lock);
    free(e->legs);
    free(e->gen);
    free(e->confs);
    free(e);
}

int engine_get_stats(engine *e, engine_stats *out) {
    pthread_mutex_lock(&e->lock);
    *out = e->st;
    out->tick_max_us = e->tick_max_cur > e->tick_max_prev ? e->tick_max_cur : e->tick_max_prev;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int engine_get_leg_stats(engine *e, uint32_t id, engine_leg_stats *out) {
    pthread_mutex_lock(&e->lock);
    leg *l = find_leg(e, id);
    if (l) {
        jitter_stats js;
        jitter_get_stats(l->jb, &js);
        *out = l->st;
        out->lost = l->have_ssrc && rtp_rx_lost(&l->rx) > 0 ? (uint32_t)rtp_rx_lost(&l->rx) : 0;
        out->jitter_ms = l->have_ssrc ? rtp_rx_jitter(&l->rx) / 8 : 0;
        out->buffer_ms = js.depth_ts / 8;
        out->target_ms = js.target_ts / 8;
        out->concealed = js.concealed;
    }
    pthread_mutex_unlock(&e->lock);
    return l ? 0 : -ENOENT;
}
