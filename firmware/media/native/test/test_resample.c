/* 8 <-> 16 kHz resampling: passband gain, image/alias rejection, continuity across calls. */
#include "../src/resample.h"
#include "check.h"
#include "tone.h"

#include <string.h>

int main(void) {
    static int16_t in8[8000], out16[16000], in16[16000], out8[8000], back[8000];
    resampler *up = resampler_create(RESAMPLE_UP), *down = resampler_create(RESAMPLE_DOWN);

    tone_fill(in8, 8000, 1000, 10000, 8000, 0);
    for (int i = 0; i < 8000; i += 160) resampler_process(up, in8 + i, 160, out16 + 2 * i);
    double g = 10 * log10(goertzel(out16 + 800, 15200, 1000, 16000) /
                          goertzel(in8 + 400, 7600, 1000, 8000));
    double image = 10 * log10(goertzel(out16 + 800, 15200, 7000, 16000) /
                              goertzel(out16 + 800, 15200, 1000, 16000));
    check(fabs(g) < 0.1, "up: 1 kHz passes at unity gain (%.3f dB)", g);
    check(image < -60, "up: the 7 kHz image is suppressed (%.1f dB)", image);

    for (int i = 0; i < 16000; i += 320) resampler_process(down, out16 + i, 320, back + i / 2);
    size_t delay = 0;
    double snr = snr_db(in8 + 100, back + 100, 7800, 40, &delay);
    (void)delay;
    check(snr > 40, "up then down gives the input back (SNR %.1f dB)", snr);

    resampler_reset(down);
    tone_fill(in16, 16000, 3000, 10000, 16000, 0);
    resampler_process(down, in16, 960, out8);
    for (int i = 960; i < 16000; i += 320) resampler_process(down, in16 + i, 320, out8 + i / 2);
    g = 10 *
        log10(goertzel(out8 + 400, 7600, 3000, 8000) / goertzel(in16 + 800, 15200, 3000, 16000));
    check(fabs(g) < 0.1, "down: 3 kHz passes at unity gain (%.3f dB)", g);
    resampler_reset(down);
    tone_fill(in16, 16000, 6000, 10000, 16000, 0);
    for (int i = 0; i < 16000; i += 320) resampler_process(down, in16 + i, 320, out8 + i / 2);
    double alias = 10 * log10(goertzel(out8 + 400, 7600, 2000, 8000) /
                              goertzel(in16 + 800, 15200, 6000, 16000));
    check(alias < -60, "down: 6 kHz does not alias to 2 kHz (%.1f dB)", alias);

    /* Chunk size does not matter: state carries across calls. */
    static int16_t a[16000], b[16000];
    resampler_reset(up);
    resampler_process(up, in8, 960, a);
    resampler_process(up, in8 + 960, 40, a + 1920);
    resampler_reset(up);
    for (int i = 0; i < 1000; i += 8) resampler_process(up, in8 + i, 8, b + 2 * i);
    check(memcmp(a, b, 2000 * sizeof a[0]) == 0, "up: chunked and one-shot outputs are identical");

    for (int i = 0; i < 16000; i++) in16[i] = (i / 3) % 2 ? 32767 : -32768;
    resampler_reset(down);
    size_t n = 0;
    for (int i = 0; i < 16000; i += 320) n += resampler_process(down, in16 + i, 320, out8 + i / 2);
    check(n == 8000, "full-scale input: no overflow, %zu samples out", n);
    check(resampler_process(down, in16, 3, out8) == 0 &&
              resampler_process(up, in8, RESAMPLE_MAX_IN + 1, out16) == 0,
          "odd decimation input and oversized calls are refused");
    resampler_destroy(up);
    resampler_destroy(down);
    return check_done();
}
