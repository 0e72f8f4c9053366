/* Conference mixer: everybody hears the sum of the others, never themselves.
 *
 * Each tick: mixer_put() the frame of every member who talks, mixer_mix() once, then
 * mixer_get() every listener's frame. Talkers are summed in 32 bits; each listener gets
 * (sum - own [+ extra]) through a soft limiter and is saturated once to 16 bits. Members who
 * did not talk all receive the same shared frame, so a caller can encode it once per codec.
 * Not thread-safe: one owner calls it. */
#ifndef CONFBOX_MIXER_H
#define CONFBOX_MIXER_H

#include <stddef.h>
#include <stdint.h>

/** Largest frame: 20 ms at 16 kHz. */
#define MIXER_MAX_FRAME 320
/** Default limiter knee: below it (|x| <= 24576, -2.5 dBFS) the output is exact. */
#define MIXER_DEFAULT_KNEE 24576

typedef struct mixer mixer;

/** ctl requests. */
enum {
    MIXER_SET_FRAME_SIZE = 1, /**< arg: int*, samples per frame, 1..MIXER_MAX_FRAME */
    MIXER_GET_FRAME_SIZE,     /**< arg: int* */
    MIXER_SET_KNEE,           /**< arg: int*, limiter knee 1..32767 (32767: limiter off) */
    MIXER_GET_KNEE,           /**< arg: int* */
    MIXER_GET_TALKERS,        /**< arg: int*, members summed by the last mixer_mix() */
};

/** New mixer for frames of frame_size samples (1..MIXER_MAX_FRAME); NULL if out of memory. */
mixer *mixer_create(int frame_size);
/** Frees the mixer and its members. */
void mixer_destroy(mixer *m);
/** Changes a setting or reads one (see the MIXER_ requests); 0 on success, -1 on a bad request. */
int mixer_ctl(mixer *m, int request, void *arg);

/** Adds a member; returns its id (>= 0), or -1 if out of memory. Ids of removed members are reused.
 */
int mixer_add(mixer *m);
/** Removes a member; its id becomes free. */
void mixer_remove(mixer *m, int id);
/** A muted member's frames are ignored (not summed); it still receives the mix. */
void mixer_set_muted(mixer *m, int id, int muted);

/** Offers this tick's frame of a talking member (frame_size samples). Members not offered
 *  a frame since the last mixer_mix() are silent this tick. */
void mixer_put(mixer *m, int id, const int16_t *pcm);
/** Sums this tick's talkers and prepares the shared frame; later puts count for the next tick. */
void mixer_mix(mixer *m);
/** The frame member id hears this tick: sum - own (+ extra, if not NULL, e.g. a prompt only this
 *  member hears), limited and saturated once. *shared is set to 1 when the frame is the one
 *  shared by every non-talker without extra (the same pointer for all of them), else 0.
 *  The pointer is valid until the next mixer_mix(). */
const int16_t *mixer_get(mixer *m, int id, const int16_t *extra, int *shared);

/** The limiter's transfer curve: identity up to the knee, then a soft curve that approaches
 *  +32767 / -32768 and reaches them only for very large inputs. Exposed for tests. */
int16_t mixer_limit(int32_t x, int32_t knee);

#endif
