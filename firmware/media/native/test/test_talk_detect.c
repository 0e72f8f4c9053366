/* Who is talking: speech bursts light the indicator within 60 ms and keep it through the pauses
 * between words, it goes out half a second after the last; quiet hiss never talks; a loud hiss
 * makes a noisy line, over which speech is still heard; a steady tone talks for at most the
 * floor's window. At 8 and 16 kHz. */
#include "../src/talk_detect.h"
#include "check.h"
#include "tone.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FRAME 320

typedef struct {
    talk_detector d;
    unsigned rate, n; /* samples per 20 ms frame */
    size_t t;         /* samples so far */
    unsigned seed;
} line;

static void line_init(line *l, unsigned rate) {
    talk_detect_init(&l->d);
    l->rate = rate;
    l->n = rate / 50;
    l->t = 0;
    l->seed = 12345;
}

/* Uniform noise of peak amplitude amp (its mean absolute value is amp / 2). */
static void noise(line *l, int16_t *out, double amp) {
    for (unsigned i = 0; i < l->n; i++) {
        l->seed = l->seed * 1103515245u + 12345u;
        out[i] = (int16_t)lrint(amp * (((double)((l->seed >> 8) & 0xffff) / 32768.0) - 1.0));
    }
}

/* One frame: a 440 Hz tone of amplitude tone_amp (0 for none) over noise of peak noise_amp;
 * returns the detector's state after it. */
static unsigned frame(line *l, double tone_amp, double noise_amp) {
    int16_t pcm[MAX_FRAME], hiss[MAX_FRAME];
    tone_fill(pcm, l->n, 440, tone_amp, l->rate, l->t);
    noise(l, hiss, noise_amp);
    for (unsigned i = 0; i < l->n; i++) {
        int32_t v = pcm[i] + hiss[i];
        pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    l->t += l->n;
    return talk_detect(&l->d, pcm, l->n);
}

/* Frames of silence received as nothing (no RTP). */
static unsigned nothing(line *l, unsigned frames) {
    unsigned s = 0;
    for (unsigned i = 0; i < frames; i++) s = talk_detect(&l->d, NULL, 0);
    return s;
}

static void speech(unsigned rate) {
    line l;
    line_init(&l, rate);
    check(nothing(&l, 50) == 0, "%u Hz: a second without RTP is silence", rate);
    /* Words: 300 ms of voice (-20 dBFS), 200 ms pauses with a faint room noise (-70 dBFS). */
    /* Six words; the last frame is voiced. */
    int first_talk = -1, dropped = 0, noisy = 0;
    for (int i = 0; i < 140; i++) {
        int voiced = (i % 25) < 15;
        unsigned s = frame(&l, voiced ? 3277 : 0, 20);
        if ((s & TALK_TALKING) && first_talk < 0) first_talk = i;
        if (first_talk >= 0 && !(s & TALK_TALKING)) dropped++;
        if (s & TALK_NOISY) noisy++;
    }
    check(noisy == 0, "%u Hz: speech is not a noisy line (%d frames said so)", rate, noisy);
    check(first_talk >= 0 && first_talk <= 3,
          "%u Hz: talking lit after %d frames of speech (at most 3, 60 ms)", rate, first_talk);
    check(dropped == 0, "%u Hz: still talking through the pauses between words (%d frames out)",
          rate, dropped);
    int out = -1;
    for (int i = 0; i < 60; i++)
        if (!(frame(&l, 0, 20) & TALK_TALKING)) {
            out = i;
            break;
        }
    check(out >= TALK_HANGOVER - 1 && out <= TALK_HANGOVER,
          "%u Hz: out %d frames after the last word (hangover %d)", rate, out, TALK_HANGOVER);
}

static void quiet_hiss(void) {
    line l;
    line_init(&l, 8000);
    unsigned any = 0;
    for (int i = 0; i < 500; i++) any |= frame(&l, 0, 150); /* mean |x| 75: under -50 dBFS */
    check(any == 0, "a faint hiss (mean 75) is neither talking nor noisy in 10 s (state %u)", any);
}

static void noisy_line(void) {
    line l;
    line_init(&l, 8000);
    nothing(&l, 50);
    unsigned s = 0;
    int noisy_at = -1;
    for (int i = 0; i < 400 && noisy_at < 0; i++) {
        s = frame(&l, 0, 2000); /* mean |x| 1000, about -30 dBFS */
        if (s & TALK_NOISY) noisy_at = i;
    }
    int window = TALK_BLOCK_FRAMES * (TALK_WINDOW_BLOCKS + 1);
    check(noisy_at > 0 && noisy_at <= window + TALK_NOISY_FRAMES,
          "a loud hiss makes a noisy line after %d frames (window %d + %d)", noisy_at, window,
          TALK_NOISY_FRAMES);
    check(!(s & TALK_TALKING), "the hiss alone is no longer talking once the floor has it");
    int talked = 0;
    for (int i = 0; i < 25; i++) talked |= (frame(&l, 16384, 2000) & TALK_TALKING) != 0;
    check(talked, "speech at -6 dBFS over the noisy line is heard as talking");
    int quiet_at = -1;
    for (int i = 0; i < 600 && quiet_at < 0; i++)
        if (!(frame(&l, 0, 40) & TALK_NOISY)) quiet_at = i;
    check(quiet_at > 0 && quiet_at <= window + TALK_NOISY_FRAMES,
          "the line is quiet again %d frames after the hiss stopped", quiet_at);
}

static void steady_tone(void) {
    line l;
    line_init(&l, 16000);
    nothing(&l, 50);
    int last_talking = -1;
    for (int i = 0; i < 400; i++)
        if (frame(&l, 8000, 0) & TALK_TALKING) last_talking = i;
    int limit = TALK_BLOCK_FRAMES * (TALK_WINDOW_BLOCKS + 1) + TALK_HANGOVER;
    check(last_talking >= 0 && last_talking <= limit,
          "a steady tone talks for %d frames, at most the window and hangover (%d)", last_talking,
          limit);
    check(talk_detect_floor(&l.d) > 4000, "the floor follows the tone (%u)",
          talk_detect_floor(&l.d));
}

int main(void) {
    speech(8000);
    speech(16000);
    quiet_hiss();
    noisy_line();
    steady_tone();
    return check_done();
}
