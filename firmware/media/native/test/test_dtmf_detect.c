/* In-band DTMF detection: every key, at both rates and through G.711, the acceptance limits of
 * level, twist, frequency and duration, one digit per press, and talk-off: the box's own
 * prompts and waiting music (argv[1]: the generated prompts directory) press no key. */
#define _POSIX_C_SOURCE 200809L
#include "../src/dtmf_detect.h"
#include "../src/dtmf_tables.h"
#include "../src/g711.h"
#include "check.h"
#include "tone.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static const char *KEYS = "123A456B789C*0#D";
static const double ROW[4] = {697, 770, 852, 941}, COL[4] = {1209, 1336, 1477, 1633};

/* Peak amplitude of a sine at level dBm0 (a full-scale sine is +3.14 dBm0). */
static double dbm0(double level) {
    return 32767.0 * pow(10.0, (level - 3.14) / 20.0);
}

typedef struct {
    int16_t *pcm;
    size_t n, cap;
    double rate;
} signal;

static void grow(signal *s, size_t more) {
    if (s->n + more <= s->cap) return;
    s->cap = (s->n + more) * 2;
    s->pcm = realloc(s->pcm, s->cap * sizeof *s->pcm);
    if (!s->pcm) abort();
}

/* Appends ms of the key's pair (row at row_db, column at col_db dBm0; freq scaled by dev). */
static void add_key(signal *s, char key, double ms, double row_db, double col_db, double dev) {
    int i = (int)(strchr(KEYS, key) - KEYS);
    size_t n = (size_t)(ms * s->rate / 1000);
    grow(s, n);
    double fr = ROW[i / 4] * dev, fc = COL[i % 4] * dev, ar = dbm0(row_db), ac = dbm0(col_db);
    for (size_t k = 0; k < n; k++) {
        double t = (double)k / s->rate;
        s->pcm[s->n + k] =
            (int16_t)lrint(ar * sin(2 * M_PI * fr * t) + ac * sin(2 * M_PI * fc * t + 0.7));
    }
    s->n += n;
}

static void add_silence(signal *s, double ms) {
    size_t n = (size_t)(ms * s->rate / 1000);
    grow(s, n);
    memset(s->pcm + s->n, 0, n * sizeof *s->pcm);
    s->n += n;
}

/* Adds white noise at level dBm0 (uniform, fixed seed) over the whole signal. */
static void add_noise(signal *s, double level) {
    double rms = dbm0(level) / sqrt(2.0), a = rms * sqrt(3.0);
    uint32_t r = 12345;
    for (size_t k = 0; k < s->n; k++) {
        r = r * 1103515245u + 12345u;
        double u = ((double)(r >> 8) / (double)(1u << 24)) * 2 - 1;
        long v = lrint(s->pcm[k] + a * u);
        s->pcm[k] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
}

/* Passes the signal through a µ-law or A-law encoder and decoder, as a phone's RTP would. */
static void through_g711(signal *s, int alaw) {
    uint8_t *c = malloc(s->n ? s->n : 1);
    if (!c) abort();
    if (alaw) {
        g711_alaw_encode_buf(s->pcm, s->n, c);
        g711_alaw_decode_buf(c, s->n, s->pcm);
    } else {
        g711_ulaw_encode_buf(s->pcm, s->n, c);
        g711_ulaw_decode_buf(c, s->n, s->pcm);
    }
    free(c);
}

/* Runs the detector over the signal in 20 ms frames, as the engine does; writes the digits. */
static size_t detect(const signal *s, char *out, size_t max) {
    dtmf_detector d;
    dtmf_detector_reset(&d);
    size_t frame = (size_t)(s->rate / 50), got = 0;
    for (size_t k = 0; k < s->n; k += frame) {
        size_t n = s->n - k < frame ? s->n - k : frame;
        char key = dtmf_detect(&d, s->pcm + k, n, (unsigned)s->rate);
        if (key && got + 1 < max) out[got++] = key;
    }
    out[got] = 0;
    return got;
}

static signal fresh(double rate) {
    signal s = {NULL, 0, 0, rate};
    add_silence(&s, 30);
    return s;
}

/* One press of key with the given shape, alone in 30 ms of silence either side: digits heard. */
static size_t one(char key, double ms, double row_db, double col_db, double dev, char *out) {
    signal s = fresh(8000);
    add_key(&s, key, ms, row_db, col_db, dev);
    add_silence(&s, 200);
    through_g711(&s, 0);
    size_t n = detect(&s, out, 8);
    free(s.pcm);
    return n;
}

static void every_key(double rate, int codec) {
    signal s = fresh(rate);
    for (const char *k = KEYS; *k; k++) {
        add_key(&s, *k, 80, -8, -10, 1.0);
        add_silence(&s, 80);
    }
    if (codec >= 0) through_g711(&s, codec);
    char got[64];
    detect(&s, got, sizeof got);
    check(strcmp(got, KEYS) == 0, "all 16 keys, 80 ms on / 80 ms off, at %g Hz%s: got \"%s\"", rate,
          codec < 0 ? ""
          : codec   ? " through A-law"
                    : " through u-law",
          got);
    free(s.pcm);
}

static void limits(void) {
    char got[8];
    check(one('5', 100, -30, -30, 1.0, got) == 1 && got[0] == '5', "-30 dBm0 per tone is heard");
    check(one('5', 100, -40, -40, 1.0, got) == 0, "-40 dBm0 per tone is not a key");
    check(one('8', 100, -6, -12, 1.0, got) == 1 && got[0] == '8', "6 dB normal twist is heard");
    check(one('8', 100, -12, -9, 1.0, got) == 1 && got[0] == '8', "3 dB reverse twist is heard");
    check(one('8', 100, -4, -16, 1.0, got) == 0, "12 dB normal twist is not a key");
    check(one('8', 100, -16, -8, 1.0, got) == 0, "8 dB reverse twist is not a key");
    check(one('9', 100, -10, -10, 1.015, got) == 1 && got[0] == '9', "1.5 %% high is heard");
    check(one('9', 100, -10, -10, 0.985, got) == 1 && got[0] == '9', "1.5 %% low is heard");
    check(one('9', 100, -10, -10, 1.06, got) == 0, "6 %% high is not a key");
    check(one('1', 20, -6, -8, 1.0, got) == 0, "a 20 ms burst is not a key");
    check(one('1', 60, -6, -8, 1.0, got) == 1, "a 60 ms tone is a key");
    check(one('0', 3000, -6, -8, 1.0, got) == 1 && got[0] == '0', "a key held 3 s is one digit");

    signal s = fresh(8000);
    for (int i = 0; i < 3; i++) {
        add_key(&s, '7', 100, -8, -10, 1.0);
        add_silence(&s, 60);
    }
    through_g711(&s, 0);
    detect(&s, got, sizeof got);
    check(strcmp(got, "777") == 0, "7 pressed three times with 60 ms pauses: got \"%s\"", got);
    free(s.pcm);

    s = fresh(8000);
    add_key(&s, '3', 100, -8, -10, 1.0);
    add_key(&s, '6', 100, -8, -10, 1.0);
    add_silence(&s, 100);
    through_g711(&s, 0);
    detect(&s, got, sizeof got);
    check(strcmp(got, "36") == 0, "3 then 6 with no pause between: got \"%s\"", got);
    free(s.pcm);

    s = fresh(8000);
    for (const char *k = "159#"; *k; k++) {
        add_key(&s, *k, 100, -10, -12, 1.0);
        add_silence(&s, 100);
    }
    add_noise(&s, -30);
    through_g711(&s, 0);
    detect(&s, got, sizeof got);
    check(strcmp(got, "159#") == 0, "keys with noise 18 dB below the tones: got \"%s\"", got);
    free(s.pcm);

    dtmf_detector d;
    dtmf_detector_reset(&d);
    int none = 1;
    for (int i = 0; i < 100; i++) none &= dtmf_detect(&d, NULL, 160, 8000) == 0;
    check(none, "silence (no audio) is no key");
}

/* Reads a raw 16-bit little-endian file. */
static int read_raw(const char *path, signal *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t b[2];
    while (fread(b, 1, 2, f) == 2) {
        grow(s, 1);
        s->pcm[s->n++] = (int16_t)(uint16_t)(b[0] | b[1] << 8);
    }
    fclose(f);
    return 0;
}

/* Every sound of the prompts directory, at its level, 6 dB louder, and through G.711: no key. */
static void talk_off(const char *dir) {
    DIR *dp = dir ? opendir(dir) : NULL;
    if (!check(dp != NULL, "prompts directory %s is there (node build.mjs makes it)",
               dir ? dir : "(none given)"))
        return;
    struct dirent *de;
    size_t files = 0, samples = 0, falses = 0;
    char where[4096] = "";
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".raw")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        signal s = {NULL, 0, 0, 8000};
        if (read_raw(path, &s) != 0) continue;
        files++;
        samples += s.n;
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 1)
                for (size_t k = 0; k < s.n; k++)
                    s.pcm[k] = (int16_t)(s.pcm[k] > 16383    ? 32767
                                         : s.pcm[k] < -16384 ? -32768
                                                             : 2 * s.pcm[k]);
            if (pass == 2) through_g711(&s, 0);
            char got[64];
            size_t n = detect(&s, got, sizeof got);
            if (n) {
                falses += n;
                size_t w = strlen(where);
                snprintf(where + w, sizeof where - w, " %s(pass %d: %s)", de->d_name, pass, got);
            }
        }
        free(s.pcm);
    }
    closedir(dp);
    check(files >= 10, "talk-off: %zu sounds, %.1f s of speech, tones and music", files,
          (double)samples / 8000);
    check(falses == 0, "talk-off: no key heard in the prompts and music (%zu false digits:%s)",
          falses, where);
}

static void sources(void) {
    dtmf_sources s;
    memset(&s, 0, sizeof s);
    uint64_t t = 1000000;
    /* A phone sending both: events first, the tone some 150 ms later (jitter buffer). */
    check(dtmf_sources_event(&s, '5', '5', t) == '5', "an RFC 4733 press is reported");
    check(dtmf_sources_event(&s, '5', 0, t + 50000) == 0, "its repeated packets are not");
    check(dtmf_sources_tone(&s, '5', '5', t + 150000) == 0,
          "the same press heard as a tone is not");
    check(dtmf_sources_tone(&s, '5', 0, t + 170000) == 0, "nor while it lasts");
    /* Second press of the same key, both ways: one digit again. */
    t += 400000;
    check(dtmf_sources_event(&s, '5', '5', t) == '5', "the same key pressed again is reported");
    check(dtmf_sources_tone(&s, '5', '5', t + 150000) == 0, "and its tone absorbed");
    /* The tone first, then a late event of the same press. */
    t += 1000000;
    check(dtmf_sources_tone(&s, '2', '2', t) == '2', "a tone heard first is reported");
    check(dtmf_sources_event(&s, '2', '2', t + 100000) == 0, "its late RFC 4733 twin is not");
    /* In-band only: two presses of one key are two digits. */
    t += 1000000;
    check(dtmf_sources_tone(&s, '4', '4', t) == '4' &&
              dtmf_sources_tone(&s, '4', '4', t + 200000) == '4',
          "two tone presses of one key are two digits");
    /* Events only: likewise. */
    t += 1000000;
    check(dtmf_sources_event(&s, '9', '9', t) == '9' &&
              dtmf_sources_event(&s, '9', '9', t + 200000) == '9',
          "two RFC 4733 presses of one key are two digits");
    /* A different key by the other source is never absorbed; an old press does not absorb. */
    check(dtmf_sources_tone(&s, '8', '8', t + 300000) == '8',
          "a different key by tone is reported");
    check(dtmf_sources_event(&s, '8', '8', t + 300000 + DTMF_PAIR_US + 1) == '8',
          "the same key long after the tone is reported");
}

/* The detector's cosine and sine tables are those of the C library, rounded, with zeros past
 * the block. */
static void tables(void) {
    double freq[8] = {ROW[0], ROW[1], ROW[2], ROW[3], COL[0], COL[1], COL[2], COL[3]};
    int wrong = 0;
    for (int i = 0; i < 8; i++)
        for (int n = 0; n < DTMF_BLOCK_PADDED; n++) {
            double w = 2 * M_PI * freq[i] * n / 8000;
            long c = n < DTMF_BLOCK ? lrint(cos(w) * 2048) : 0;
            long s = n < DTMF_BLOCK ? lrint(sin(w) * 2048) : 0;
            if (DTMF_COS_Q11[i][n] != c || DTMF_SIN_Q11[i][n] != s) wrong++;
        }
    check(wrong == 0, "the tone tables hold cos and sin of the 8 tones (%d entries wrong)", wrong);
}

int main(int argc, char **argv) {
    tables();
    every_key(8000, -1);
    every_key(8000, 0);
    every_key(8000, 1);
    every_key(16000, -1);
    limits();
    sources();
    talk_off(argc > 1 ? argv[1] : getenv("CONFBOX_PROMPTS"));
    return check_done();
}
