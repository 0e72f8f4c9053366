/* Keys through the engine on loopback: in-band tones on G.711 and G.722 legs, with and without
 * telephone-event, muted or not, and a phone that sends each press both as RFC 4733 events and
 * as tones is heard once per press. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/g722.h"
#include "../src/rtp.h"
#include "check.h"
#include "loopback.h"
#include "tone.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *KEYS = "123A456B789C*0#D";
static const double ROW[4] = {697, 770, 852, 941}, COL[4] = {1209, 1336, 1477, 1633};

typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg;
    engine_codec codec;
    int events; /* also sends RFC 4733 events (payload type 101) */
    uint16_t seq, event_seq_start;
    uint32_t ts, ssrc;
    g722_encoder *enc;
} phone;

static void send_audio(phone *p, const int16_t *pcm) {
    uint8_t pkt[12 + 160];
    rtp_header h = {0};
    h.payload_type = (uint8_t)p->codec;
    h.seq = p->seq++;
    h.timestamp = p->ts;
    h.ssrc = p->ssrc;
    rtp_write_header(pkt, sizeof pkt, &h);
    if (p->codec == ENGINE_CODEC_G722)
        g722_encode(p->enc, pcm, 320, pkt + 12);
    else
        g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    send_to(p->fd, p->engine_port, pkt, sizeof pkt);
}

static void send_event(phone *p, char key, uint32_t start, unsigned duration, int end) {
    uint8_t pkt[16];
    rtp_header h = {0};
    h.payload_type = 101;
    h.seq = p->seq++;
    h.timestamp = start;
    h.ssrc = p->ssrc;
    h.marker = duration == 160;
    rtp_write_header(pkt, sizeof pkt, &h);
    const char *codes = "0123456789*#ABCD";
    pkt[12] = (uint8_t)(strchr(codes, key) - codes);
    pkt[13] = (uint8_t)((end ? 0x80 : 0) | 10);
    pkt[14] = (uint8_t)(duration >> 8);
    pkt[15] = (uint8_t)duration;
    send_to(p->fd, p->engine_port, pkt, sizeof pkt);
}

static void sleep_tick(struct timespec *t) {
    t->tv_nsec += 20000000L;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL);
}

/* Presses each key of keys for 100 ms with 100 ms pauses, in real time, then 300 ms of
 * silence; collects the digits the engine reports for the leg. */
static void press(engine *e, phone *p, const char *keys, char *got, size_t max) {
    size_t rate = p->codec == ENGINE_CODEC_G722 ? 16000 : 8000, n = rate / 50, k = 0;
    int16_t pcm[320];
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (const char *c = keys;; c++) {
        int i = *c ? (int)(strchr(KEYS, *c) - KEYS) : -1;
        for (int tick = 0; tick < (*c ? 10 : 15); tick++, k++) {
            memset(pcm, 0, sizeof pcm);
            if (i >= 0 && tick < 5)
                for (size_t s = 0; s < n; s++) {
                    double x = (double)(k * n + s) / (double)rate;
                    pcm[s] = (int16_t)lrint(7000 * sin(2 * M_PI * ROW[i / 4] * x) +
                                            6000 * sin(2 * M_PI * COL[i % 4] * x));
                }
            if (p->events && i >= 0 && tick < 8) /* the press, then three end packets */
                send_event(p, *c, p->ts - (uint32_t)tick * 160,
                           (unsigned)(tick < 5 ? tick + 1 : 5) * 160, tick >= 5);
            send_audio(p, pcm);
            p->ts += 160;
            sleep_tick(&t);
        }
        if (!*c) break;
    }
    engine_event evs[64];
    size_t m = engine_poll_events(e, evs, 64), got_n = 0;
    for (size_t j = 0; j < m; j++)
        if (evs[j].type == ENGINE_EVENT_DTMF && evs[j].leg == p->leg && got_n + 1 < max)
            got[got_n++] = evs[j].digit;
    got[got_n] = 0;
}

static int open_phone(engine *e, phone *p, engine_codec codec, int dtmf_pt, uint32_t ssrc) {
    memset(p, 0, sizeof *p);
    p->codec = codec;
    p->ssrc = ssrc;
    p->enc = g722_encoder_create();
    p->fd = udp_socket(&p->port);
    engine_leg_options o = {.codec = codec,
                            .payload_type = (uint8_t)codec,
                            .dtmf_payload_type = dtmf_pt,
                            .ptime_ms = 20};
    return engine_open_leg(e, &o, &p->leg, &p->engine_port) == 0 &&
           engine_connect_leg(e, p->leg, "127.0.0.1", p->port, &o) == 0;
}

static void close_phone(engine *e, phone *p) {
    engine_close_leg(e, p->leg);
    close(p->fd);
    g722_encoder_destroy(p->enc);
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31600;
    cfg.port_max = 31699;
    engine *e = NULL;
    if (!check(engine_create(&cfg, &e) == 0, "engine starts")) return check_done();
    char got[32];
    phone p;

    check(open_phone(e, &p, ENGINE_CODEC_PCMU, -1, 0x100), "PCMU leg without telephone-event");
    press(e, &p, "1#0", got, sizeof got);
    check(strcmp(got, "1#0") == 0, "in-band keys on a PCMU leg: got \"%s\"", got);
    close_phone(e, &p);

    check(open_phone(e, &p, ENGINE_CODEC_G722, 101, 0x200), "G.722 leg with telephone-event");
    press(e, &p, "4D*", got, sizeof got);
    check(strcmp(got, "4D*") == 0, "in-band keys on a G.722 leg that negotiated events: got \"%s\"",
          got);
    close_phone(e, &p);

    check(open_phone(e, &p, ENGINE_CODEC_PCMU, -1, 0x300), "PCMU leg, muted, in a conference");
    engine_join(e, p.leg, 3);
    engine_set_muted(e, p.leg, 1);
    press(e, &p, "6", got, sizeof got);
    check(strcmp(got, "6") == 0, "a muted leg's keys are heard (to unmute): got \"%s\"", got);
    close_phone(e, &p);

    check(open_phone(e, &p, ENGINE_CODEC_PCMU, 101, 0x400), "PCMU leg with telephone-event");
    p.events = 1;
    press(e, &p, "5592", got, sizeof got);
    check(strcmp(got, "5592") == 0, "events and tones of the same presses count once: got \"%s\"",
          got);
    close_phone(e, &p);

    engine_destroy(e);
    return check_done();
}
