/* RTP load generator and latency probe for the media engine benchmarks (test/bench/media.bench.ts).
 *
 * Plays the phones: one UDP socket per leg on 127.0.0.1 sends G.711 µ-law RTP every 20 ms to the
 * engine and receives the engine's mix on the same socket. One thread, one absolute periodic
 * timerfd of SLOT-long slots: each leg sends in its own slot of the 20 ms period, so the packets
 * are spread like those of independent phones and none waits on a timer of its own.
 *
 *   rtp_load load <legs> <warmup_ms> <measure_ms>
 *   rtp_load latency <rooms> <warmup_ms> <impulses_per_room> <interval_packets>
 *
 * Protocol on stdin/stdout (one line each):
 *   -> "ports <p0> <p1> ..."      the local port of every leg's socket, in leg order
 *   <- "go <e0> <e1> ..."         the engine's RTP port of every leg, in the same order
 *   load:    -> "window-start", then "window-end" and "result key=value ..."
 *   latency: legs 2r (A) and 2r+1 (B) are room r. A sends silence with a click every
 *            <interval_packets> packets after the warmup; B looks for it in what it receives.
 *            -> "lat <room> <microseconds> <sample position>" per click heard, then "result ...".
 * The latency of a click is (B's receive time - A's send time), corrected by the shift of the
 * click's position inside the frame, so it is the time the audio spent in the engine. */
#define _GNU_SOURCE
#include "g711.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS     20000000ll /* one packet per leg per 20 ms */
#define FRAME         160        /* µ-law octets per packet */
#define TONE_FRAMES   50         /* one second of a whole-hertz tone loops exactly */
#define TONES         8
#define CLICK_POS     40      /* sample of the click inside A's frame */
#define CLICK_LEVEL   20000   /* below the mixer's limiter knee: passes through exactly */
#define CLICK_DETECT  10000   /* a received sample this loud is the click */
#define CLICK_GIVE_UP 1000000 /* µs after which a click not heard counts as lost */
#define TIMER_KEY     UINT64_MAX

typedef struct {
    int fd;
    uint16_t local_port;
    struct sockaddr_in dst;
    int slot;
    uint16_t seq;
    uint32_t ts, ssrc, sent;
    /* what came back in the measured window */
    uint32_t count, other;
    int64_t first_ns, last_ns, max_gap_ns;
    int64_t first_seq, last_seq; /* extended */
    uint16_t prev_seq;
} leg;

typedef struct {
    int64_t click_sent_ns; /* 0: no click pending */
    unsigned clicks_sent, heard, lost, unmatched;
} room;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "rtp_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint32_t rng = 0x9e3779b9u;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void usage(void) {
    fprintf(stderr, "usage: rtp_load load <legs> <warmup_ms> <measure_ms>\n"
                    "       rtp_load latency <rooms> <warmup_ms> <impulses_per_room> "
                    "<interval_packets>\n");
    exit(2);
}

static long arg(const char *s, long min, long max) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < min || v > max) usage();
    return v;
}

static void open_legs(leg *legs, int n) {
    for (int i = 0; i < n; i++) {
        leg *l = &legs[i];
        l->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0) die("socket");
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(l->fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
        socklen_t len = sizeof a;
        if (getsockname(l->fd, (struct sockaddr *)&a, &len) != 0) die("getsockname");
        l->local_port = ntohs(a.sin_port);
        l->seq = (uint16_t)next_random();
        l->ts = next_random();
        l->ssrc = next_random();
    }
    printf("ports");
    for (int i = 0; i < n; i++) printf(" %u", legs[i].local_port);
    printf("\n");
    fflush(stdout);
}

/* Reads "go <port>..." from stdin: where each leg sends. */
static void read_go(leg *legs, int n) {
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, stdin) < 0 || strncmp(line, "go", 2) != 0) {
        fprintf(stderr, "rtp_load: expected \"go <ports>\" on stdin\n");
        exit(1);
    }
    char *p = line + 2;
    for (int i = 0; i < n; i++) {
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p || port < 1 || port > 65535) {
            fprintf(stderr, "rtp_load: \"go\" names %d ports, expected %d\n", i, n);
            exit(1);
        }
        p = end;
        legs[i].dst.sin_family = AF_INET;
        legs[i].dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        legs[i].dst.sin_port = htons((uint16_t)port);
    }
    free(line);
}

static void send_packet(leg *l, const uint8_t *payload) {
    uint8_t pkt[12 + FRAME];
    pkt[0] = 0x80;                    /* V=2 */
    pkt[1] = l->sent == 0 ? 0x80 : 0; /* marker on the first packet; PT 0 (PCMU) */
    pkt[2] = (uint8_t)(l->seq >> 8);
    pkt[3] = (uint8_t)l->seq;
    for (int k = 0; k < 4; k++) {
        pkt[4 + k] = (uint8_t)(l->ts >> (24 - 8 * k));
        pkt[8 + k] = (uint8_t)(l->ssrc >> (24 - 8 * k));
    }
    memcpy(pkt + 12, payload, FRAME);
    /* a full socket buffer on loopback would be the engine not reading: the packet is lost */
    (void)sendto(l->fd, pkt, sizeof pkt, 0, (const struct sockaddr *)&l->dst, sizeof l->dst);
    l->seq++;
    l->ts += FRAME;
    l->sent++;
}

/* Counts a packet the engine sent to leg l, if it arrived inside the measured window. */
static void count_packet(leg *l, const uint8_t *b, ssize_t n, int64_t t) {
    if (n < 12 || (b[0] & 0xC0) != 0x80 || (b[1] & 0x7F) != 0) { /* RTCP, or not our PCMU */
        l->other++;
        return;
    }
    uint16_t seq = (uint16_t)(b[2] << 8 | b[3]);
    if (l->count == 0) {
        l->first_ns = t;
        l->first_seq = l->last_seq = seq;
    } else {
        if (t - l->last_ns > l->max_gap_ns) l->max_gap_ns = t - l->last_ns;
        l->last_seq += (int16_t)(uint16_t)(seq - l->prev_seq);
    }
    l->prev_seq = seq;
    l->last_ns = t;
    l->count++;
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    int latency = strcmp(argv[1], "latency") == 0;
    if (!latency && strcmp(argv[1], "load") != 0) usage();
    if (argc != (latency ? 6 : 5)) usage();
    int n_rooms = latency ? (int)arg(argv[2], 1, 4096) : 0;
    int n = latency ? 2 * n_rooms : (int)arg(argv[2], 1, 8192);
    int64_t warmup_ns = arg(argv[3], 0, 600000) * 1000000ll;
    int64_t measure_ns = latency ? 0 : arg(argv[4], 1, 600000) * 1000000ll;
    long clicks = latency ? arg(argv[4], 1, 100000) : 0;
    long interval = latency ? arg(argv[5], 2, 100000) : 0;
    /* finer slots when measuring latency: the click's phase against the engine's tick matters */
    int slots = latency ? 80 : 20;
    int64_t slot_ns = PERIOD_NS / slots;

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    leg *legs = calloc((size_t)n, sizeof *legs);
    room *rooms = calloc((size_t)(n_rooms ? n_rooms : 1), sizeof *rooms);
    if (!legs || !rooms) die("calloc");
    open_legs(legs, n);
    read_go(legs, n);

    /* payloads: tones of -20 dBFS for the load, silence and a click for the latency probe */
    static uint8_t tone[TONES][TONE_FRAMES][FRAME];
    for (int k = 0; k < TONES; k++)
        for (int f = 0; f < TONE_FRAMES; f++)
            for (int j = 0; j < FRAME; j++) {
                double t = (double)(f * FRAME + j) / 8000.0;
                tone[k][f][j] =
                    g711_ulaw_encode((int16_t)(3277.0 * sin(2 * M_PI * (300 + 100 * k) * t)));
            }
    uint8_t silence[FRAME], click[FRAME];
    memset(silence, g711_ulaw_encode(0), FRAME);
    memcpy(click, silence, FRAME);
    click[CLICK_POS] = g711_ulaw_encode(CLICK_LEVEL);

    /* slots: spread evenly for the load; one random phase per room for the latency probe */
    int **by_slot = calloc((size_t)slots, sizeof *by_slot);
    int *in_slot = calloc((size_t)slots, sizeof *in_slot);
    if (!by_slot || !in_slot) die("calloc");
    for (int i = 0; i < n; i++) {
        legs[i].slot = latency ? (int)(next_random() % (uint32_t)slots) : i % slots;
        if (latency && (i & 1)) legs[i].slot = legs[i - 1].slot;
        in_slot[legs[i].slot]++;
    }
    for (int s = 0; s < slots; s++) {
        by_slot[s] = calloc((size_t)(in_slot[s] ? in_slot[s] : 1), sizeof **by_slot);
        if (!by_slot[s]) die("calloc");
        in_slot[s] = 0;
    }
    for (int i = 0; i < n; i++) by_slot[legs[i].slot][in_slot[legs[i].slot]++] = i;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = TIMER_KEY;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < n; i++) {
        ev.data.u64 = (uint64_t)i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, legs[i].fd, &ev) != 0) die("epoll_ctl");
    }
    int64_t start = now_ns() + PERIOD_NS;
    struct itimerspec its = {.it_interval = {0, slot_ns},
                             .it_value = {start / 1000000000ll, start % 1000000000ll}};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) die("timerfd_settime");

    int64_t window_start = start + warmup_ns, window_end = window_start + measure_ns;
    int in_window = 0;
    uint64_t slot_no = 0, missed_slots = 0;
    int64_t max_late_ns = 0;
    uint64_t sent_total = 0;
    long clicks_done_rooms = 0;
    int64_t click_deadline = 0;
    struct epoll_event evs[256];
    uint8_t buf[2048];
    int16_t pcm[FRAME];

    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) die("epoll_wait");
        for (int e = 0; e < k; e++) {
            if (evs[e].data.u64 == TIMER_KEY) {
                uint64_t exp = 0;
                if (read(tfd, &exp, sizeof exp) != (ssize_t)sizeof exp || exp == 0) continue;
                int64_t t = now_ns();
                if (in_window || latency) {
                    missed_slots += exp - 1;
                    int64_t late = t - (start + (int64_t)(slot_no + exp - 1) * slot_ns);
                    if (late > max_late_ns) max_late_ns = late;
                }
                /* catch up on missed slots: every leg keeps its packet rate */
                for (uint64_t x = 0; x < exp; x++, slot_no++) {
                    int s = (int)(slot_no % (uint64_t)slots);
                    for (int j = 0; j < in_slot[s]; j++) {
                        int i = by_slot[s][j];
                        leg *l = &legs[i];
                        const uint8_t *payload = tone[i % TONES][l->sent % TONE_FRAMES];
                        if (latency) {
                            room *r = &rooms[i / 2];
                            payload = silence;
                            long warm = (long)(warmup_ns / PERIOD_NS);
                            long p = (long)l->sent - warm;
                            if (!(i & 1) && p >= 0 && p % interval == 0 &&
                                r->clicks_sent < (unsigned)clicks) {
                                if (r->click_sent_ns) r->lost++; /* the previous one never came */
                                payload = click;
                                r->clicks_sent++;
                                r->click_sent_ns = now_ns();
                            }
                        }
                        send_packet(l, payload);
                        sent_total++;
                    }
                }
                if (!latency && !in_window && t >= window_start) {
                    in_window = 1;
                    for (int i = 0; i < n; i++) legs[i].count = 0;
                    printf("window-start\n");
                    fflush(stdout);
                }
                if (!latency && in_window && t >= window_end) goto finished;
                if (latency && clicks_done_rooms == n_rooms) {
                    if (!click_deadline) click_deadline = t + CLICK_GIVE_UP * 1000ll;
                    int pending = 0;
                    for (int r = 0; r < n_rooms; r++) pending |= rooms[r].click_sent_ns != 0;
                    if (!pending || t >= click_deadline) goto finished;
                }
                continue;
            }
            int i = (int)evs[e].data.u64;
            leg *l = &legs[i];
            for (;;) {
                ssize_t got = recv(l->fd, buf, sizeof buf, 0);
                if (got < 0) break;
                int64_t t = now_ns();
                if (!latency) {
                    if (in_window) count_packet(l, buf, got, t);
                    continue;
                }
                if (!(i & 1) || got != 12 + FRAME || (buf[1] & 0x7F) != 0) continue;
                g711_ulaw_decode_buf(buf + 12, FRAME, pcm);
                int pos = -1;
                for (int j = 0; j < FRAME && pos < 0; j++)
                    if (pcm[j] > CLICK_DETECT || pcm[j] < -CLICK_DETECT) pos = j;
                if (pos < 0) continue;
                room *r = &rooms[i / 2];
                if (!r->click_sent_ns) {
                    r->unmatched++;
                    continue;
                }
                int64_t lat = t - r->click_sent_ns + (int64_t)(pos - CLICK_POS) * 125000;
                printf("lat %d %lld %d\n", i / 2, (long long)(lat / 1000), pos);
                r->click_sent_ns = 0;
                r->heard++;
                if (r->clicks_sent == (unsigned)clicks) clicks_done_rooms++;
            }
        }
        /* a room whose last click was lost is done too */
        if (latency)
            for (int r = 0; r < n_rooms; r++)
                if (rooms[r].clicks_sent == (unsigned)clicks && rooms[r].click_sent_ns &&
                    now_ns() - rooms[r].click_sent_ns > CLICK_GIVE_UP * 1000ll) {
                    rooms[r].click_sent_ns = 0;
                    rooms[r].lost++;
                    clicks_done_rooms++;
                }
    }

finished:;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (latency) {
        unsigned sent = 0, heard = 0, lost = 0, unmatched = 0;
        for (int r = 0; r < n_rooms; r++) {
            sent += rooms[r].clicks_sent;
            heard += rooms[r].heard;
            lost += rooms[r].lost + (rooms[r].click_sent_ns != 0);
            unmatched += rooms[r].unmatched;
        }
        printf("result clicks=%u heard=%u lost=%u unmatched=%u sender_missed_slots=%llu "
               "sender_max_late_us=%lld cpu_s=%.3f\n",
               sent, heard, lost, unmatched, (unsigned long long)missed_slots,
               (long long)(max_late_ns / 1000), cpu_s);
    } else {
        printf("window-end\n");
        /* Per leg, the frames that should have arrived between its first and last packet of
         * the window, less those that did: frames the engine never sent, or sent so late that
         * they stretched the stream. */
        uint64_t received = 0, missing = 0, seq_lost = 0, other = 0, silent_legs = 0;
        int64_t max_gap = 0;
        uint64_t per_window = (uint64_t)(measure_ns / PERIOD_NS);
        for (int i = 0; i < n; i++) {
            leg *l = &legs[i];
            received += l->count;
            other += l->other;
            if (l->count == 0) {
                silent_legs++;
                missing += per_window;
                continue;
            }
            uint64_t span = (uint64_t)llround((double)(l->last_ns - l->first_ns) / PERIOD_NS) + 1;
            if (span > l->count) missing += span - l->count;
            int64_t seq_span = l->last_seq - l->first_seq + 1;
            if (seq_span > (int64_t)l->count) seq_lost += (uint64_t)seq_span - l->count;
            if (l->max_gap_ns > max_gap) max_gap = l->max_gap_ns;
        }
        printf("result legs=%d window_ms=%lld expected=%llu received=%llu missing=%llu "
               "seq_lost=%llu silent_legs=%llu other=%llu max_gap_us=%lld sent=%llu "
               "sender_missed_slots=%llu sender_max_late_us=%lld cpu_s=%.3f\n",
               n, (long long)(measure_ns / 1000000), (unsigned long long)(per_window * n),
               (unsigned long long)received, (unsigned long long)missing,
               (unsigned long long)seq_lost, (unsigned long long)silent_legs,
               (unsigned long long)other, (long long)(max_gap / 1000),
               (unsigned long long)sent_total, (unsigned long long)missed_slots,
               (long long)(max_late_ns / 1000), cpu_s);
    }
    fflush(stdout);
    return 0;
}
