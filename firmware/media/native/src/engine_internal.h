/* The media engine's own types, shared by its control side (engine.c: the host's calls) and its
 * media threads (engine_media.c). Nothing here is part of the engine's interface (engine.h).
 *
 * Locking. engine.lock is taken by every host call first; it guards the engine-wide tables
 * (legs, conferences, sounds, which thread runs what). Each media thread has a lock of its own
 * (worker.lock) over the legs and conferences it runs; it holds only that one, and the host takes
 * it after engine.lock (two of them, in index order, to move a leg). The event ring has its own
 * lock, always the last taken. */
#ifndef CONFBOX_ENGINE_INTERNAL_H
#define CONFBOX_ENGINE_INTERNAL_H

#include "dtmf_detect.h"
#include "engine.h"
#include "g722.h"
#include "jitter.h"
#include "mixer.h"
#include "resample.h"
#include "rtp.h"
#include "talk_detect.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define TICK_US           20000
#define PACE_US           10000 /* the timer's period: packets of any ptime leave on this grid */
#define PACES_PER_TICK    (TICK_US / PACE_US)
#define FRAME_NB          160  /* samples per tick at 8 kHz; also octets per tick, every codec */
#define FRAME_WB          320  /* samples per tick at 16 kHz */
#define EVENT_RING        1024 /* power of two */
#define MAX_DATAGRAM      2048
#define OUTQ              (60 * 8 + FRAME_NB)
#define RECV_BATCH        32  /* packets per wake-up per socket, so one leg cannot starve others */
#define RECV_VLEN         8   /* datagrams one receive call (recvmmsg) may take */
#define READY_EVENTS      256 /* ready sockets taken from epoll at once */
#define MAX_QUEUED_US     1000000 /* a datagram's age in its socket is counted up to this */
#define MAX_CATCHUP       6       /* timer periods run at once after the thread was late */
#define RTCP_INTERVAL_US  5000000
#define OVERRUN_REPORT_US 1000000
#define VAD_HANGOVER      10 /* ticks a talker stays mixed after falling below the VAD level */
#define LATCH_QUIET_MS    2000
#define UNANSWERED_MS     10000
#define TICKS_PER_SECOND  50
#define EV_TIMER          UINT64_MAX
#define EV_WAKE           (UINT64_MAX - 1)

/* A prompt, kept once at the rate it was given in (a 16 kHz copy of an 8 kHz prompt would add
 * nothing but memory); a playback heard at the other rate converts it as it goes. */
typedef struct {
    int16_t *pcm;
    int wb;        /* given at 16 kHz */
    size_t frames; /* 20 ms frames, the last one zero-padded */
} sound;

typedef struct {
    int active;
    uint32_t id, sound;
    unsigned flags;
    size_t frame;
    resampler *conv; /* the sound at the other rate; kept for the target's next playback */
    int conv_wb;     /* the rate conv gives */
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
    unsigned worker; /* the media thread that mixes it, with all its members */
    mixer *mx;
    uint32_t *members; /* leg slots */
    unsigned n_members, cap;
    int sound_member; /* mixer member through which a mixed playback is heard */
    playback play;
    recording *rec; /* the conference's mix kept for the host, or NULL */
} conference;

typedef struct {
    uint32_t id;
    unsigned worker; /* the media thread that runs it */
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

/* One media thread and what it runs. */
typedef struct {
    struct engine *e;
    unsigned index;
    int epfd, tfd, wakefd; /* what wakes the thread: its timer, and the host at the end */
    int sock_epfd;         /* its legs' sockets, read (not waited on) at every timer period */
    pthread_t thread;
    int started, lock_made;
    pthread_mutex_t lock; /* everything below, and the legs and conferences it runs */
    leg **legs;           /* by slot: its legs, NULL where the slot is free or another thread's */
    unsigned n_legs;
    uint32_t *confs; /* its conferences: indices of engine.confs */
    unsigned n_confs;
    int notify_pending;  /* read and written by the thread only */
    uint64_t now_us;     /* start of the current tick */
    uint64_t paces;      /* timer periods run; every PACES_PER_TICK-th is a tick */
    uint64_t late_paces; /* timer periods missed */
    uint64_t late_pending, last_overrun_us;
    uint32_t tick_max_cur, tick_max_prev; /* longest tick of this second so far, and the last */
    engine_stats st;                      /* its share of the engine's counters */
    /* scratch of the tick */
    int16_t in_leg[FRAME_WB], in_conf[FRAME_WB], out_leg[FRAME_WB], leg_play[FRAME_WB];
    int16_t conf_play[FRAME_WB];
    uint8_t shared_enc[2][FRAME_NB];
    /* receiving */
    struct mmsghdr rx_msgs[RECV_VLEN];
    struct iovec rx_iov[RECV_VLEN];
    struct sockaddr_storage rx_src[RECV_VLEN];
    _Alignas(8) uint8_t rx_cmsg[RECV_VLEN][64]; /* each datagram's arrival time (SO_TIMESTAMPNS) */
    _Alignas(8) uint8_t rx_buf[RECV_VLEN][MAX_DATAGRAM];
} worker;

struct engine {
    engine_config cfg;
    char cname[64];
    struct sockaddr_storage bind_addr;
    socklen_t bind_len;
    atomic_int stop;
    int locks_made;
    pthread_mutex_t lock;      /* the tables below; taken before any worker's lock */
    pthread_mutex_t port_lock; /* port cursor */
    uint16_t port_cursor;
    leg **legs; /* by slot, whichever thread runs them */
    uint16_t *gen;
    conference *confs;
    unsigned max_legs;
    uint32_t n_legs, n_confs;
    sound *sounds; /* grown with every worker's lock held: the threads read it */
    unsigned n_sounds, cap_sounds;
    uint32_t next_playback;
    worker *workers;
    unsigned n_workers;
    pthread_mutex_t ev_lock; /* the event ring */
    engine_event ring[EVENT_RING];
    unsigned ev_head, ev_tail;
    uint64_t events_dropped;
};

/* engine.c */
uint64_t engine_mono_us(void);
uint32_t engine_random32(void);
int engine_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
int engine_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
void engine_set_port(struct sockaddr_storage *a, uint16_t port);
uint16_t engine_get_port(const struct sockaddr_storage *a);

/* engine_media.c */
/* Makes the converter a sound given at sound_wb needs to be heard at wb (kept if it has it; none
 * when the rates agree): made by the host when a playback starts, by the media thread only if
 * the target's rate changes while it plays. 0 or -ENOMEM. */
int playback_converter(playback *p, int sound_wb, int wb);
void *engine_media_thread(void *worker);
void engine_push_event(engine *e, const engine_event *ev);
/* Appends a tick of the conference's mix (n samples at 8 or 16 kHz) to its recording. */
void engine_recording_put(recording *r, const int16_t *mix, int n);

#endif
