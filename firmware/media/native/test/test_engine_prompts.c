/* A prompt is kept once, at the rate it was given in, and heard at the other rate through a
 * converter as it plays: an 8 kHz prompt by a G.722 phone, a 16 kHz sound by a G.711 phone (what
 * lies above 4 kHz is filtered out, not folded down), both at their level and to the end; and by
 * a call that changed from G.711 to G.722, whose G.722 state is made only then. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/g722.h"
#include "../src/rtp.h"
#include "check.h"
#include "loopback.h"
#include "tone.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_TICKS 60 /* 1.2 s: the 1 s sound and the engine's delay */

typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg;
    engine_codec codec;
    g722_decoder *dec;
    int16_t rx[LISTEN_TICKS * 320 * 2];
    size_t rx_n;
} phone;

static int open_phone(engine *e, phone *p, engine_codec codec) {
    memset(p, 0, sizeof *p);
    p->codec = codec;
    p->dec = g722_decoder_create();
    p->fd = udp_socket(&p->port);
    engine_leg_options o = {
        .codec = codec, .payload_type = (uint8_t)codec, .dtmf_payload_type = -1, .ptime_ms = 20};
    return engine_open_leg(e, &o, &p->leg, &p->engine_port) == 0 &&
           engine_connect_leg(e, p->leg, "127.0.0.1", p->port, &o) == 0;
}

static void receive(phone *p) {
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(p->fd, buf, sizeof buf, 0)) > 0) {
        rtp_header h;
        if (rtp_parse(buf, (size_t)n, &h) != RTP_OK || h.payload_len != 160) continue;
        if (p->rx_n + 320 > sizeof p->rx / sizeof p->rx[0]) continue;
        if (p->codec == ENGINE_CODEC_G722)
            p->rx_n += g722_decode(p->dec, h.payload, 160, p->rx + p->rx_n);
        else
            g711_ulaw_decode_buf(h.payload, 160, p->rx + p->rx_n), p->rx_n += 160;
    }
}

/* Plays the sound to the phone alone and records what it hears until the engine says it ended. */
static int hear(engine *e, phone *p, uint32_t snd) {
    uint32_t pb = 0;
    if (engine_play(e, ENGINE_TARGET_LEG, p->leg, snd, 0, &pb) != 0) return 0;
    int ended = 0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int k = 0; k < LISTEN_TICKS; k++) {
        t.tv_nsec += 20000000L;
        if (t.tv_nsec >= 1000000000L) t.tv_nsec -= 1000000000L, t.tv_sec++;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        receive(p);
        engine_event ev[16];
        size_t m = engine_poll_events(e, ev, 16);
        for (size_t i = 0; i < m; i++)
            if (ev[i].type == ENGINE_EVENT_PLAYED && ev[i].playback == pb) ended = 1;
    }
    return ended;
}

/* Level of a tone of frequency f in the loudest half second heard, in dB against amplitude amp. */
static double heard_db(const phone *p, double f, double amp) {
    double rate = p->codec == ENGINE_CODEC_G722 ? 16000 : 8000, best = 0;
    size_t n = (size_t)(rate / 2), step = (size_t)(rate / 50);
    for (size_t at = 0; at + n <= p->rx_n; at += step) {
        double pw = goertzel(p->rx + at, n, f, rate);
        if (pw > best) best = pw;
    }
    return 10 * log10(best / (amp * amp / 4) + 1e-20);
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31700;
    cfg.port_max = 31799;
    cfg.media_threads = 1;
    engine *e = NULL;
    (void)send_to; /* the phones here only listen */
    if (!check(engine_create(&cfg, &e) == 0, "engine starts")) return check_done();

    static int16_t narrow[8000], wide[16000], high[16000];
    tone_fill(narrow, 8000, 1000, 8000, 8000, 0);
    tone_fill(wide, 16000, 1000, 8000, 16000, 0);
    tone_fill(high, 16000, 6000, 8000, 16000, 0);
    for (size_t i = 0; i < 16000; i++) wide[i] = (int16_t)(wide[i] + high[i]);
    uint32_t s8 = 0, s16 = 0;
    check(engine_add_sound(e, narrow, 8000, 8000, &s8) == 0, "a 1 s prompt at 8 kHz is added");
    check(engine_add_sound(e, wide, 16000, 16000, &s16) == 0,
          "a 1 s sound at 16 kHz (1 kHz and 6 kHz) is added");

    phone wb;
    check(open_phone(e, &wb, ENGINE_CODEC_G722), "a G.722 phone");
    check(hear(e, &wb, s8), "the G.722 phone's playback of the 8 kHz prompt ends");
    double db = heard_db(&wb, 1000, 8000);
    check(fabs(db) < 1.5, "the G.722 phone hears the 8 kHz prompt's 1 kHz at its level (%.1f dB)",
          db);
    size_t heard = 0;
    for (size_t i = 0; i < wb.rx_n; i++) heard += abs(wb.rx[i]) > 2000;
    check(heard > 12800 && heard < 14500,
          "and for the whole second, not more (%zu samples above a quarter of its peak; 13,420 in "
          "1 s)",
          heard);

    phone nb;
    check(open_phone(e, &nb, ENGINE_CODEC_PCMU), "a G.711 phone");
    check(hear(e, &nb, s16), "the G.711 phone's playback of the 16 kHz sound ends");
    db = heard_db(&nb, 1000, 8000);
    check(fabs(db) < 1.5, "the G.711 phone hears the 16 kHz sound's 1 kHz at its level (%.1f dB)",
          db);
    double folded = heard_db(&nb, 2000, 8000);
    check(folded < -35, "its 6 kHz is filtered out, not folded down to 2 kHz (%.1f dB)", folded);

    check(hear(e, &wb, s8), "the G.722 phone hears the prompt a second time");

    /* A call that changes from G.711 to G.722 (a re-INVITE) gets G.722's codec state then. */
    engine_leg_options g722 = {.codec = ENGINE_CODEC_G722,
                               .payload_type = ENGINE_CODEC_G722,
                               .dtmf_payload_type = -1,
                               .ptime_ms = 20};
    check(engine_connect_leg(e, nb.leg, "127.0.0.1", nb.port, &g722) == 0,
          "the G.711 phone's call changes to G.722");
    nb.codec = ENGINE_CODEC_G722;
    nb.rx_n = 0;
    check(hear(e, &nb, s8), "it hears the prompt again");
    db = heard_db(&nb, 1000, 8000);
    check(fabs(db) < 1.5, "in G.722, at its level (%.1f dB)", db);
    engine_close_leg(e, wb.leg);
    engine_close_leg(e, nb.leg);
    close(wb.fd);
    close(nb.fd);
    g722_decoder_destroy(wb.dec);
    g722_decoder_destroy(nb.dec);
    engine_destroy(e);
    return check_done();
}
