/* Test signals and their analysis: sine generation, Goertzel power, SNR. */
#ifndef CONFBOX_TONE_H
#define CONFBOX_TONE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Fills n samples of amp * sin(2 pi f t + phase) at the given rate. */
static inline void tone_fill(int16_t *out, size_t n, double f, double amp, double rate,
                             size_t start) {
    for (size_t i = 0; i < n; i++)
        out[i] = (int16_t)lrint(amp * sin(2 * M_PI * f * (double)(start + i) / rate));
}

/* Power of frequency f in x (Goertzel), normalised so a sine of amplitude A gives about A^2/4. */
static inline double goertzel(const int16_t *x, size_t n, double f, double rate) {
    double w = 2 * M_PI * f / rate, c = 2 * cos(w), s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s0 = x[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    double p = s1 * s1 + s2 * s2 - c * s1 * s2;
    return p / ((double)n * (double)n);
}

/* Mean power of x. */
static inline double mean_power(const int16_t *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? s / (double)n : 0;
}

/* Best SNR in dB of y against x delayed by 0..max_delay samples (y[i + delay] ~ x[i]). */
static inline double snr_db(const int16_t *x, const int16_t *y, size_t n, size_t max_delay,
                            size_t *delay_out) {
    double best = -1e9;
    for (size_t d = 0; d <= max_delay; d++) {
        double sig = 0, err = 0;
        for (size_t i = 0; i + d < n; i++) {
            double e = (double)y[i + d] - x[i];
            sig += (double)x[i] * x[i];
            err += e * e;
        }
        double v = 10 * log10(sig / (err + 1e-9));
        if (v > best) {
            best = v;
            if (delay_out) *delay_out = d;
        }
    }
    return best;
}

#endif
