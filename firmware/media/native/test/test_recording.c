/* Recording a conference on loopback: the ring holds the conference's mix at 16 kHz (both
 * callers' tones at their levels, an 8 kHz room upsampled); audio the host does not take in
 * time is dropped oldest first and counted; a second recording of the same conference is
 * refused; stopping ends it, and the conference's end ends it too. */
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
#include <time.h>

#define CONF  77
#define LEVEL 6000.0

typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg, ts, ssrc;
    uint16_t seq;
    double freq;
} caller;

static void send_tick(caller *p, size_t tick) {
    uint8_t pkt[12 + 160];
    rtp_header h = {.payload_type = 0, .seq = p->seq++, .timestamp = p->ts, .ssrc = p->ssrc};
    p->ts += 160;
    rtp_write_header(pkt, sizeof pkt, &h);
    int16_t pcm[160];
    tone_fill(pcm, 160, p->freq, LEVEL, 8000, tick * 160);
    g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    send_to(p->fd, p->engine_port, pkt, sizeof pkt);
}

/* Both callers send their tone every 20 ms for ticks ticks. */
static void talk(caller *c, size_t *tick, size_t ticks) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (size_t k = 0; k < ticks; k++, (*tick)++) {
        for (int i = 0; i < 2; i++) send_tick(&c[i], *tick);
        t.tv_nsec += 20000000L;
        while (t.tv_nsec >= 1000000000L) {
            t.tv_nsec -= 1000000000L;
            t.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    }
}

/* Level in dB relative to LEVEL of f in the last half second of pcm (16 kHz). */
static double level_db(const int16_t *pcm, size_t n, double f) {
    size_t take = 8000;
    if (n < take) return -200;
    double p = goertzel(pcm + n - take, take, f, 16000);
    return 10 * log10(p / (LEVEL * LEVEL / 4) + 1e-20);
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31800;
    cfg.port_max = 31899;
    cfg.media_threads = 2; /* legs move to their conference's thread on joining */
    engine *e = NULL;
    int rc = engine_create(&cfg, &e);
    if (!check(rc == 0, "engine starts (%d)", rc)) return check_done();

    check(engine_record(e, CONF, 2) == -ENOENT, "no conference, no recording");
    static caller c[2];
    double freqs[2] = {600, 1500};
    engine_leg_options o = {
        .codec = ENGINE_CODEC_PCMU, .payload_type = 0, .dtmf_payload_type = -1, .ptime_ms = 20};
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        c[i].freq = freqs[i];
        c[i].ssrc = 0x5000u + (uint32_t)i;
        c[i].fd = udp_socket(&c[i].port);
        ok &= engine_open_leg(e, &o, &c[i].leg, &c[i].engine_port) == 0;
        ok &= engine_connect_leg(e, c[i].leg, "127.0.0.1", c[i].port, &o) == 0;
        ok &= engine_join(e, c[i].leg, CONF) == 0;
    }
    if (!check(ok, "two callers in a conference")) return check_done();
    check(engine_record(e, CONF, 0) == -EINVAL, "a ring of 0 seconds is refused");
    check(engine_record(e, CONF, 2) == 0, "recording starts");
    check(engine_record(e, CONF, 2) == -EBUSY,
          "a second recording of the same conference is refused");

    size_t tick = 0;
    static int16_t got[16000 * 3];
    size_t n = 0, read = 0;
    uint64_t dropped = 0;
    for (int round = 0; round < 5; round++) { /* 1 s, read every 200 ms */
        talk(c, &tick, 10);
        check(engine_read_recording(e, CONF, got + n, sizeof got / sizeof *got - n, &read,
                                    &dropped) == 0,
              "read %d", round);
        n += read;
    }
    check(n >= 14000 && n <= 18000, "about a second of 16 kHz audio read (%zu samples)", n);
    check(dropped == 0, "nothing dropped while the host reads (%llu)", (unsigned long long)dropped);
    double a = level_db(got, n, freqs[0]), b = level_db(got, n, freqs[1]);
    check(a > -3 && a < 1, "the first caller's tone in the recording at its level (%.1f dB)", a);
    check(b > -3 && b < 1, "the second caller's tone in the recording at its level (%.1f dB)", b);
    double between = level_db(got, n, 1050);
    check(between < -30, "and nothing much between them (%.1f dB at 1050 Hz)", between);

    talk(c, &tick, 150); /* 3 s unread into a 2 s ring */
    check(engine_read_recording(e, CONF, got, sizeof got / sizeof *got, &read, &dropped) == 0,
          "read after a long pause");
    check(read <= 32000 && read >= 30000, "the ring held its 2 s (%zu samples)", read);
    check(dropped >= 12000, "the oldest second was dropped and counted (%llu samples)",
          (unsigned long long)dropped);

    check(engine_record_stop(e, CONF) == 0, "recording stops");
    check(engine_read_recording(e, CONF, got, 16, &read, NULL) == -ENOENT,
          "nothing to read after the stop");
    check(engine_record_stop(e, CONF) == -ENOENT, "stopping twice says it was not recorded");

    check(engine_record(e, CONF, 1) == 0, "recording again");
    for (int i = 0; i < 2; i++) engine_close_leg(e, c[i].leg);
    check(engine_read_recording(e, CONF, got, 16, &read, NULL) == -ENOENT,
          "the conference's end ends its recording");
    engine_destroy(e);
    return check_done();
}
