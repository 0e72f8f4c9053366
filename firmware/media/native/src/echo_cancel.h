/* Acoustic echo cancellation for the local leg (the box's own microphone and speaker), through
 * speexdsp's echo canceller and its preprocessor's residual echo suppression, loaded at run time
 * (dlopen of libspeexdsp.so.1), so the engine runs on a machine without it: the canceller then
 * reports itself unavailable and the leg runs without.
 *
 * The media thread gives every frame the speaker plays (echo_cancel_far) and every frame the
 * microphone captured (echo_cancel_near) in the same tick; the far frames are held back by the
 * sound card's delay, so that the filter's tail covers the room rather than the card's buffers. Not
 * thread-safe: one canceller belongs to one thread. */
#ifndef CONFBOX_ECHO_CANCEL_H
#define CONFBOX_ECHO_CANCEL_H

#include <stdint.h>

typedef struct echo_cancel echo_cancel;

typedef struct {
    unsigned rate;    /**< sample rate, Hz (16000) */
    unsigned frame;   /**< samples a frame (320) */
    unsigned tail_ms; /**< the echo path the filter models, after the delay [128] */
    unsigned
        delay_ms; /**< what the speaker plays reaches the microphone no earlier than this [30] */
    int noise_suppress; /**< dB of noise suppression, 0: off (e.g. -15) */
    int echo_suppress;  /**< dB of residual echo suppression [-40] */
} echo_cancel_config;

/** NULL when speexdsp can be used, else why not (a fixed string). */
const char *echo_cancel_unavailable(void);

/** A canceller; -ENOSYS when speexdsp cannot be loaded, -EINVAL for a bad config, -ENOMEM. */
int echo_cancel_create(const echo_cancel_config *cfg, echo_cancel **out);
void echo_cancel_destroy(echo_cancel *ec);

/** A frame the speaker plays now (cfg.frame samples). */
void echo_cancel_far(echo_cancel *ec, const int16_t *speaker);
/** A frame the microphone captured now, with the echo removed, into out (may be the same buffer).
 */
void echo_cancel_near(echo_cancel *ec, const int16_t *mic, int16_t *out);

#endif
