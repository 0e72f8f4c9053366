/* 8 kHz <-> 16 kHz resampling with a 47-tap half-band FIR in fixed point.
 *
 * Passband flat (within 0.05 dB) to 3.4 kHz, -45 dB from 4.6 kHz. Each direction keeps its
 * own history, so one resampler serves one continuous stream. Delay: 23 samples at 16 kHz. */
#ifndef CONFBOX_RESAMPLE_H
#define CONFBOX_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/** Largest input accepted by one resampler_process() call. */
#define RESAMPLE_MAX_IN 960

typedef enum {
    RESAMPLE_UP = 0,   /**< 8 kHz in, 16 kHz out (two samples per input) */
    RESAMPLE_DOWN = 1, /**< 16 kHz in, 8 kHz out (one sample per two inputs) */
} resample_direction;

typedef struct resampler resampler;

/** New resampler; NULL if out of memory. */
resampler *resampler_create(resample_direction dir);
/** Frees it. */
void resampler_destroy(resampler *r);
/** Clears the history (start of a new stream). */
void resampler_reset(resampler *r);
/** Converts n input samples (n <= RESAMPLE_MAX_IN; even for RESAMPLE_DOWN) into out (2n or n/2
 *  samples); returns the number of samples written, 0 if n is not acceptable. */
size_t resampler_process(resampler *r, const int16_t *in, size_t n, int16_t *out);

#endif
