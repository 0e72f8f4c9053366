/* The local leg's echo canceller in simulated rooms: the speaker's signal (speech-like noise: a
 * random broadband signal under a syllable envelope) reaches the microphone after the sound card's
 * delay (30 ms, or 100 ms) and the room's (a direct path of 20 ms and a reflection of 85 ms,
 * low-passed and attenuated: the echo arrives 50 to 185 ms after it was played), later with a
 * near-end talker over it. Checked: the echo return loss enhancement (at least 25 dB from two
 * seconds on: converged within two seconds), and the near-end talker's level during double talk
 * (within 3 dB). Skipped, with the reason, where speexdsp cannot be loaded. */
#define _GNU_SOURCE
#include "../src/echo_cancel.h"
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE    16000
#define FRAME   320
#define SECONDS 9

static uint32_t seed = 12345;
static double noise(void) {
    seed = seed * 1664525u + 1013904223u;
    return ((double)(seed >> 8) / (double)(1u << 24)) * 2.0 - 1.0;
}

/* Speech-like: white noise low-passed (one pole), under a 3.7 Hz syllable envelope with pauses. */
static void talker(double *out, size_t n, double level, double syllable_hz, double phase) {
    double lp = 0;
    for (size_t i = 0; i < n; i++) {
        lp = 0.7 * lp + 0.3 * noise();
        double env = sin(2 * M_PI * syllable_hz * (double)i / RATE + phase);
        out[i] = level * lp * (env > 0 ? env : 0.05);
    }
}

static double mean_power(const double *x, size_t from, size_t to) {
    double p = 0;
    for (size_t i = from; i < to; i++) p += x[i] * x[i];
    return p / (double)(to - from);
}

static int16_t clip16(double v) {
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrint(v));
}

static void room(unsigned card_ms) {
    size_t n = (size_t)RATE * SECONDS;
    double *far = calloc(n, sizeof *far), *near = calloc(n, sizeof *near),
           *echo = calloc(n, sizeof *echo);
    double *mic = calloc(n, sizeof *mic), *out = calloc(n, sizeof *out);
    talker(far, n, 12000, 3.7, 0);
    /* The near-end talker speaks from 6 s on. */
    talker(near, n, 6000, 2.9, 1.0);
    for (size_t i = 0; i < (size_t)RATE * 6; i++) near[i] = 0;
    /* The room: card delay, a direct path (20 ms, -6 dB) and a reflection (55 ms, -14 dB),
     * low-passed. */
    size_t d1 = (size_t)RATE * (card_ms + 20) / 1000, d2 = (size_t)RATE * (card_ms + 85) / 1000;
    double lp = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (i >= d1 ? 0.5 * far[i - d1] : 0) + (i >= d2 ? 0.2 * far[i - d2] : 0);
        lp = 0.6 * lp + 0.4 * x;
        echo[i] = lp;
        mic[i] = echo[i] + near[i] + 3 * noise(); /* and a quiet room's noise floor */
    }

    echo_cancel_config cfg = {.rate = RATE,
                              .frame = FRAME,
                              .tail_ms = 100,
                              .delay_ms = card_ms,
                              .noise_suppress = 0,
                              .echo_suppress = -40};
    echo_cancel *ec = NULL;
    check(echo_cancel_create(&cfg, &ec) == 0,
          "a canceller for 16 kHz, 20 ms frames, 100 ms tail, %u ms card delay", card_ms);

    int16_t f[FRAME], m[FRAME], o[FRAME];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at + FRAME <= n; at += FRAME) {
        for (int i = 0; i < FRAME; i++) {
            f[i] = clip16(far[at + i]);
            m[i] = clip16(mic[at + i]);
        }
        echo_cancel_far(ec, f);
        echo_cancel_near(ec, m, o);
        for (int i = 0; i < FRAME; i++) out[at + i] = o[i];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
                (double)(n / FRAME);
    printf("# card %u ms: %.1f us a 20 ms frame, %.2f%% of one core (a figure, not checked)\n",
           card_ms, us, us / 200.0);
    echo_cancel_destroy(ec);

    /* ERLE over one-second windows while only the far end talks. */
    for (int s = 1; s <= 5; s++) {
        size_t from = (size_t)RATE * s, to = from + RATE;
        double erle = 10 * log10(mean_power(echo, from, to) / mean_power(out, from, to));
        printf("# card %u ms: ERLE %d-%d s: %.1f dB\n", card_ms, s, s + 1, erle);
        /* Converged within two seconds: at least 25 dB from then on. */
        if (s >= 2)
            check(erle >= 25,
                  "card %u ms: ERLE from %d to %d s is %.1f dB (at least 25: converged within 2 s)",
                  card_ms, s, s + 1, erle);
    }
    /* Double talk: what is left of the output against the near-end talker alone. */
    size_t from = (size_t)RATE * 6 + RATE / 2, to = n;
    double kept = 10 * log10(mean_power(out, from, to) / mean_power(near, from, to));
    check(fabs(kept) <= 3,
          "card %u ms: during double talk the near-end talker keeps its level: %+.1f dB (within 3 "
          "dB)",
          card_ms, kept);
    free(far), free(near), free(echo), free(mic), free(out);
}

int main(void) {
    const char *why = echo_cancel_unavailable();
    if (why) {
        check_skip("speexdsp cannot be used here: %s", why);
        return check_done();
    }
    echo_cancel_config bad = {.rate = RATE, .frame = FRAME, .tail_ms = 5, .delay_ms = 30};
    echo_cancel *none = NULL;
    check(echo_cancel_create(&bad, &none) == -EINVAL && none == NULL, "a 5 ms tail is refused");
    room(30);
    room(100);
    return check_done();
}
