/* link: -lspandsp -lm */
/* host only: spandsp is installed for this machine, not for the arm64 boards */
/* The box's G.722 against an independent implementation, spandsp's (Debian's libspandsp-dev,
 * LGPL-2.1, used by this test only): a tone and a speech-like signal go through all four
 * encoder/decoder pairings, and each must come back close to what went in (SNR over the signal,
 * after the codec's delay). The box's functions are compiled into this program under other names,
 * since spandsp's have the same ones. */
#define _GNU_SOURCE
#include "check.h"
#include "tone.h"

#include <math.h>
#include <spandsp.h>
#include <stdlib.h>
#include <string.h>

#define g722_encode confbox_g722_encode
#define g722_decode confbox_g722_decode
#include "../src/g722.c"
#undef g722_encode
#undef g722_decode

#define RATE    16000
#define SECONDS 2
#define N       (RATE * SECONDS)
#define SKIP    800 /* the first 50 ms: both codecs adapting */

/* A 1 kHz tone at about -10 dBFS. */
static void tone(int16_t *x) {
    tone_fill(x, N, 1000, 10000, RATE, 0);
}

/* Speech-like: a 140 Hz voice with harmonics up to 7 kHz under a syllable envelope (4 Hz), with its
 * formant-ish emphasis around 500 Hz and 1.5 kHz. */
static void speech(int16_t *x) {
    for (int i = 0; i < N; i++) {
        double t = (double)i / RATE, v = 0;
        for (int h = 1; 140.0 * h < 7000; h++) {
            double f = 140.0 * h;
            double gain = 1.0 / h + 0.8 * exp(-pow((f - 500) / 200, 2)) +
                          0.5 * exp(-pow((f - 1500) / 300, 2));
            v += gain * sin(2 * M_PI * f * t + h * 0.7);
        }
        double envelope = 0.25 + 0.75 * pow(sin(M_PI * 4 * t), 2);
        x[i] = (int16_t)lrint(2500.0 * envelope * v);
    }
}

static void box_encode(const int16_t *x, uint8_t *code) {
    g722_encoder *e = g722_encoder_create();
    confbox_g722_encode(e, x, N, code);
    g722_encoder_destroy(e);
}

static void box_decode(const uint8_t *code, int16_t *y) {
    g722_decoder *d = g722_decoder_create();
    confbox_g722_decode(d, code, N / 2, y);
    g722_decoder_destroy(d);
}

static void spandsp_encode(const int16_t *x, uint8_t *code) {
    g722_encode_state_t *s = g722_encode_init(NULL, 64000, 0);
    g722_encode(s, code, x, N);
    g722_encode_free(s);
}

static void spandsp_decode(const uint8_t *code, int16_t *y) {
    g722_decode_state_t *s = g722_decode_init(NULL, 64000, 0);
    g722_decode(s, y, code, N / 2);
    g722_decode_free(s);
}

static void pairings(const char *what, void (*make)(int16_t *), double at_least) {
    static int16_t x[N], y[N];
    static uint8_t code[N / 2];
    make(x);
    const char *names[4] = {"box -> box", "box -> spandsp", "spandsp -> box", "spandsp -> spandsp"};
    for (int k = 0; k < 4; k++) {
        memset(y, 0, sizeof y);
        (k < 2 ? box_encode : spandsp_encode)(x, code);
        (k % 2 == 0 ? box_decode : spandsp_decode)(code, y);
        size_t lag = 0; /* SNR after the codecs' adaptation, at the delay where it is best */
        double v = snr_db(x + SKIP, y + SKIP, N - SKIP, 63, &lag);
        check(v >= at_least, "%s, %s: SNR %.1f dB (at least %.0f), delay %zu samples", what,
              names[k], v, at_least, lag);
    }
}

/* How many octets of the two encoders' streams differ (written down, not checked: both follow the
 * recommendation's fixed-point arithmetic, and may well agree to the bit). */
static void streams_compared(void) {
    static int16_t x[N];
    static uint8_t a[N / 2], b[N / 2];
    speech(x);
    box_encode(x, a);
    spandsp_encode(x, b);
    int differ = 0;
    for (int i = 0; i < N / 2; i++) differ += a[i] != b[i];
    printf("# speech-like signal: %d of %d octets of the two encoders differ\n", differ, N / 2);
}

int main(void) {
    streams_compared();
    pairings("1 kHz tone", tone, 20);
    pairings("speech-like signal", speech, 18);
    return check_done();
}
