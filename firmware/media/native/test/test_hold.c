/* Per-leg direction and packet pacing on loopback: a held leg (its caller on hold) is neither
 * heard in its conference nor sent to, and its silence never times out; on resume it is heard
 * and sent to again. Packets of every ptime leave evenly: between two packets of a leg exactly
 * ptime / 10 packets of a 10 ms reference leg arrive. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/rtp.h"
#include "check.h"
#include "loopback.h"
#include "tone.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RX_MAX (8000 * 4)

typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg;
    double freq;
    uint16_t seq;
    uint32_t ts, ssrc;
    int16_t rx[RX_MAX]; /* decoded audio received */
    size_t rx_n;
    unsigned packets, markers;
} phone;

static void sleep_until(struct timespec *t, long add_ns) {
    t->tv_nsec += add_ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL);
}

static void phone_send(phone *p, size_t tick) {
    uint8_t pkt[12 + 160];
    rtp_header h = {0};
    h.payload_type = 0;
    h.seq = p->seq++;
    h.timestamp = p->ts;
    h.ssrc = p->ssrc;
    p->ts += 160;
    rtp_write_header(pkt, sizeof pkt, &h);
    int16_t pcm[160];
    tone_fill(pcm, 160, p->freq, 8000, 8000, tick * 160);
    g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    send_to(p->fd, p->engine_port, pkt, sizeof pkt);
}

static void phone_receive(phone *p) {
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(p->fd, buf, sizeof buf, 0)) > 0) {
        rtp_header h;
        if (rtp_parse(buf, (size_t)n, &h) != RTP_OK || h.payload_len != 160) continue;
        p->packets++;
        p->markers += h.marker;
        if (p->rx_n + 160 > RX_MAX) memmove(p->rx, p->rx + 160, (p->rx_n -= 160) * sizeof *p->rx);
        g711_ulaw_decode_buf(h.payload, 160, p->rx + p->rx_n);
        p->rx_n += 160;
    }
}

/* Both phones send 20 ms of their tone every 20 ms (phone 0 only if it talks) for ticks ticks. */
static void run(phone *ph, size_t *tick, size_t ticks, int first_talks) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (size_t k = 0; k < ticks; k++, (*tick)++) {
        for (int i = first_talks ? 0 : 1; i < 2; i++) phone_send(&ph[i], *tick);
        sleep_until(&t, 20000000L);
        for (int i = 0; i < 2; i++) phone_receive(&ph[i]);
    }
}

/* Level in dB (relative to the sent tone) of f in the last half second phone p received. */
static double heard_db(const phone *p, double f) {
    size_t n = 4000;
    if (p->rx_n < n) return -200;
    double pw = goertzel(p->rx + p->rx_n - n, n, f, 8000);
    return 10 * log10(pw / (8000.0 * 8000 / 4) + 1e-20);
}

static unsigned timeouts_of(engine *e, uint32_t leg) {
    engine_event evs[64];
    size_t n = engine_poll_events(e, evs, 64);
    unsigned c = 0;
    for (size_t i = 0; i < n; i++)
        c += evs[i].type == ENGINE_EVENT_RTP_TIMEOUT && evs[i].leg == leg;
    return c;
}

static void test_hold(engine *e) {
    static phone ph[2];
    double freqs[2] = {700, 1900};
    int ok = 1;
    engine_leg_options o = {.codec = ENGINE_CODEC_PCMU,
                            .payload_type = 0,
                            .dtmf_payload_type = -1,
                            .ptime_ms = 20,
                            .rtp_timeout_ms = 300};
    for (int i = 0; i < 2; i++) {
        phone *p = &ph[i];
        p->freq = freqs[i];
        p->ssrc = 0x2000u + (uint32_t)i;
        p->fd = udp_socket(&p->port);
        ok &= engine_open_leg(e, &o, &p->leg, &p->engine_port) == 0;
        ok &= engine_connect_leg(e, p->leg, "127.0.0.1", p->port, &o) == 0;
        ok &= engine_join(e, p->leg, 42) == 0;
    }
    if (!check(ok, "two legs open and join a conference")) return;
    size_t tick = 0;
    run(ph, &tick, 40, 1);
    double before = heard_db(&ph[1], freqs[0]);
    check(before > -2, "before the hold, phone 1 hears phone 0's tone (%.1f dB)", before);

    /* phone 0 holds with a=sendonly and keeps sending (a PBX's music): the box answers
     * recvonly and takes it out of the mix */
    engine_leg_options held = o;
    held.direction = ENGINE_DIR_NO_SEND | ENGINE_DIR_NO_RECEIVE;
    check(engine_connect_leg(e, ph[0].leg, "127.0.0.1", ph[0].port, &held) == 0, "hold accepted");
    run(ph, &tick, 5, 1);
    unsigned got = ph[0].packets;
    run(ph, &tick, 40, 1);
    double during = heard_db(&ph[1], freqs[0]);
    check(during < -40, "on hold, phone 0's music is not heard by phone 1 (%.1f dB)", during);
    check(ph[0].packets == got, "on hold, nothing is sent to phone 0 (%u packets)",
          ph[0].packets - got);

    /* then it goes silent (a=inactive) for longer than its inactivity timeout */
    timeouts_of(e, ph[0].leg);
    run(ph, &tick, 30, 0);
    check(timeouts_of(e, ph[0].leg) == 0,
          "a held leg silent for 600 ms (timeout 300 ms) does not time out");

    /* resume: heard and sent to again, the first packet marked */
    unsigned markers = ph[0].markers;
    got = ph[0].packets;
    check(engine_connect_leg(e, ph[0].leg, "127.0.0.1", ph[0].port, &o) == 0, "resume accepted");
    run(ph, &tick, 40, 1);
    double after = heard_db(&ph[1], freqs[0]);
    check(after > -2, "after the resume, phone 1 hears phone 0 again (%.1f dB)", after);
    check(ph[0].packets - got >= 30 && ph[0].markers == markers + 1,
          "after the resume, phone 0 receives RTP again (%u packets), the first one marked",
          ph[0].packets - got);
    check(timeouts_of(e, ph[0].leg) == 0, "no timeout right after the resume");
    run(ph, &tick, 25, 0);
    check(timeouts_of(e, ph[0].leg) == 1, "once resumed, a silent leg times out again");

    /* a caller that only listens (a=recvonly): the box sends to it and does not mix it */
    engine_leg_options listens = o;
    listens.direction = ENGINE_DIR_NO_RECEIVE;
    engine_connect_leg(e, ph[0].leg, "127.0.0.1", ph[0].port, &listens);
    got = ph[0].packets;
    run(ph, &tick, 40, 1);
    check(heard_db(&ph[1], freqs[0]) < -40 && ph[0].packets - got >= 30,
          "a listen-only leg is not heard (%.1f dB) and is sent to (%u packets)",
          heard_db(&ph[1], freqs[0]), ph[0].packets - got);
    engine_leg_options bad = o;
    bad.direction = 4;
    check(engine_connect_leg(e, ph[0].leg, "127.0.0.1", ph[0].port, &bad) == -EINVAL,
          "an unknown direction flag is refused");
    for (int i = 0; i < 2; i++) {
        engine_close_leg(e, ph[i].leg);
        close(ph[i].fd);
    }
}

/* ---- pacing ---- */

#define PACED     6
#define ARRIVALS  2000
#define PACING_MS 2000

typedef struct {
    uint32_t ssrc, ts;
    uint16_t seq;
    uint64_t at_us;
} arrival;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_pacing(engine *e) {
    /* a 10 ms reference leg and one leg of each ptime, all sending to one socket: loopback
     * delivers in the order the media thread sends */
    unsigned ptimes[PACED] = {10, 10, 20, 30, 50, 60};
    uint32_t legs[PACED];
    uint16_t port, eport;
    int fd = udp_socket(&port);
    int ok = 1;
    for (int i = 0; i < PACED; i++) {
        engine_leg_options o = {.codec = ENGINE_CODEC_PCMU,
                                .payload_type = 0,
                                .dtmf_payload_type = -1,
                                .ptime_ms = ptimes[i]};
        ok &= engine_open_leg(e, &o, &legs[i], &eport) == 0;
        ok &= engine_connect_leg(e, legs[i], "127.0.0.1", port, &o) == 0;
    }
    if (!check(ok, "legs of ptime 10, 20, 30, 50 and 60 ms open")) return;
    static arrival arr[ARRIVALS];
    size_t n = 0;
    uint64_t end = now_us() + PACING_MS * 1000u;
    while (now_us() < end && n < ARRIVALS) {
        uint8_t buf[2048];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
            usleep(500);
            continue;
        }
        rtp_header h;
        if (rtp_parse(buf, (size_t)r, &h) != RTP_OK) continue;
        arr[n++] = (arrival){h.ssrc, h.timestamp, h.seq, now_us()};
    }
    /* the legs' SSRCs, in order of their first packets; which leg is which: by payload size */
    engine_leg_stats st[PACED];
    for (int i = 0; i < PACED; i++) engine_get_leg_stats(e, legs[i], &st[i]);
    uint32_t ssrc[PACED] = {0};
    for (size_t k = 0; k < n; k++) {
        for (int i = 0; i < PACED; i++) {
            if (ssrc[i] == arr[k].ssrc) break;
            if (ssrc[i] == 0) {
                ssrc[i] = arr[k].ssrc;
                break;
            }
        }
    }
    /* identify: ts step between a leg's consecutive packets is 8 * ptime */
    unsigned step_of[PACED] = {0};
    for (int i = 0; i < PACED; i++) {
        uint32_t last = 0;
        int have = 0;
        for (size_t k = 0; k < n && !step_of[i]; k++) {
            if (arr[k].ssrc != ssrc[i]) continue;
            if (have) step_of[i] = arr[k].ts - last;
            last = arr[k].ts;
            have = 1;
        }
    }
    int ref = -1;
    for (int i = 0; i < PACED; i++)
        if (step_of[i] == 80 && ref < 0) ref = i;
    if (!check(ref >= 0, "a 10 ms leg is found among %zu packets", n)) return;
    for (unsigned want = 10; want <= 60; want += 10) {
        int i = -1;
        for (int j = 0; j < PACED; j++)
            if (j != ref && step_of[j] == want * 8) i = j;
        if (i < 0) continue;
        /* timestamps and sequence step by exactly one packet; count per second; reference packets
         * between two packets; spacing (reported) */
        unsigned count = 0, ts_ok = 1, intervals = 0, even = 0, hist[8] = {0};
        uint64_t first = 0, last_at = 0;
        uint32_t last_ts = 0;
        uint16_t last_seq = 0;
        unsigned refs = 0, between = 0;
        double dev = 0, maxdev = 0;
        for (size_t k = 0; k < n; k++) {
            if (arr[k].ssrc == ssrc[ref] && (int)i != ref) refs++;
            if (arr[k].ssrc != ssrc[i]) continue;
            if (count) {
                ts_ok &= arr[k].ts - last_ts == want * 8 && arr[k].seq == (uint16_t)(last_seq + 1);
                intervals++;
                even += refs == want / 10;
                between += refs;
                hist[refs < 7 ? refs : 7]++;
                double d = fabs((double)(arr[k].at_us - last_at) / 1000.0 - want);
                dev += d;
                if (d > maxdev) maxdev = d;
            } else {
                first = arr[k].at_us;
            }
            refs = 0;
            count++;
            last_ts = arr[k].ts;
            last_seq = arr[k].seq;
            last_at = arr[k].at_us;
        }
        double span_ms = (double)(last_at - first) / 1000.0;
        double expected = span_ms / want + 1;
        printf("# ptime %u: %u packets in %.0f ms (expected %.1f), spacing off by %.2f ms on "
               "average (max %.1f); 10 ms packets between two: 0:%u 1:%u 2:%u 3:%u 4:%u 5:%u "
               "6:%u 7+:%u\n",
               want, count, span_ms, expected, intervals ? dev / intervals : 0, maxdev, hist[0],
               hist[1], hist[2], hist[3], hist[4], hist[5], hist[6], hist[7]);
        check(count > 10 && ts_ok,
              "ptime %u: RTP timestamps advance by exactly %u and sequence numbers by one", want,
              want * 8);
        /* against the reference rather than the clock: a stalled machine loses ticks for all; only
         * the reference packets between this leg's first and last count, so that the capture's
         * edges do not */
        check(fabs((double)intervals * want - (double)between * 10) <= want,
              "ptime %u: one packet per %u ms (%u intervals, %u packets of the 10 ms leg between)",
              want, want, intervals, between);
        /* counting, not timing: a burst shows as 0 and 2, or 2 and 4, reference packets */
        check(even * 50 >= intervals * 49,
              "ptime %u: evenly paced, exactly %u packets of the 10 ms leg between two packets "
              "(%u of %u intervals)",
              want, want / 10, even, intervals);
    }
    for (int i = 0; i < PACED; i++) engine_close_leg(e, legs[i]);
    close(fd);
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31400;
    cfg.port_max = 31599;
    engine *e = NULL;
    int rc = engine_create(&cfg, &e);
    if (!check(rc == 0, "engine starts (%d)", rc)) return check_done();
    test_hold(e);
    test_pacing(e);
    engine_stats st;
    engine_get_stats(e, &st);
    printf("# %llu late timer periods\n", (unsigned long long)st.late_ticks);
    engine_destroy(e);
    return check_done();
}
