/* Adaptive jitter buffer of one incoming RTP stream.
 *
 * jitter_put() each packet as it arrives (any order); jitter_get() once per tick returns one
 * tick of PCM: decoded audio, a concealed frame (the last frame repeated with a fade-out, for at
 * most JITTER_CONCEAL_TICKS ticks), or silence. The target delay follows the observed jitter;
 * the buffer is bounded, grows by holding its cursor on underflow (the late packet is then
 * played, not dropped) and shrinks back to the target when it stays too full (clock drift).
 * Packets are stored encoded and decoded in timestamp order through the decode callback, so a
 * stateful codec (G.722) sees its stream in order. Not thread-safe: one owner calls it. */
#ifndef CONFBOX_JITTER_H
#define CONFBOX_JITTER_H

#include <stddef.h>
#include <stdint.h>

#define JITTER_MAX_PACKETS   16   /**< packets held at most */
#define JITTER_MAX_PAYLOAD   512  /**< largest payload stored (60 ms of G.711/G.722 is 480) */
#define JITTER_FIRST_PAYLOAD 160  /**< payload room before a longer packet comes (20 ms) */
#define JITTER_MAX_TICK      320  /**< largest tick in samples (20 ms at 16 kHz) */
#define JITTER_MAX_DECODED   1024 /**< largest decoded packet in samples */
#define JITTER_CONCEAL_TICKS 3    /**< a lost stretch fades to silence over this many ticks */
#define JITTER_WINDOW_TICKS  50   /**< ticks over which excess delay is measured before trimming */
#define JITTER_JUMP_TICKS    50   /**< a timestamp this far from the cursor restarts the buffer */

typedef struct jitter jitter;

/** Decodes one payload into at most max samples; returns the sample count (<= 0: undecodable). */
typedef int (*jitter_decode_fn)(void *ctx, const uint8_t *payload, size_t len, int16_t *pcm,
                                size_t max);

/** Configuration of jitter_create(). */
typedef struct {
    unsigned ts_per_tick;      /**< RTP timestamp units per tick (160: 20 ms at an 8 kHz clock) */
    unsigned samples_per_tick; /**< PCM samples per tick, a multiple of ts_per_tick (G.722: 2x) */
    unsigned max_packets;      /**< capacity, 1..JITTER_MAX_PACKETS (0: the maximum) */
    unsigned min_delay_ticks;  /**< lower bound of the target delay (0: 1 tick) */
    unsigned max_delay_ticks;  /**< upper bound of the target delay (0: 8 ticks) */
    jitter_decode_fn decode;   /**< payload decoder */
    void *decode_ctx;          /**< passed to decode */
} jitter_config;

/** What jitter_get() produced. */
typedef enum {
    JITTER_SILENCE = 0,   /**< nothing to play (not started, or concealment has faded out) */
    JITTER_FRAME = 1,     /**< decoded audio (possibly with a concealed part) */
    JITTER_CONCEALED = 2, /**< only a concealed (faded repeat) frame */
} jitter_status;

/** Result of jitter_put(). */
typedef enum {
    JITTER_OK = 0,
    JITTER_E_INVALID = -1,   /**< empty or too long a payload, or zero duration */
    JITTER_E_LATE = -2,      /**< its time has already been played */
    JITTER_E_DUPLICATE = -3, /**< a packet with this timestamp is held */
    JITTER_E_FULL = -4,      /**< full and the packet is older than everything held */
} jitter_result;

/** Counters and the current state. */
typedef struct {
    uint32_t frames, concealed, silent;      /**< jitter_get() results */
    uint32_t late, duplicates, overflows;    /**< packets refused or dropped */
    uint32_t resets, stalls;                 /**< restarts; ticks spent holding on underflow */
    uint32_t dropped_ts;                     /**< timestamp units dropped to resynchronise */
    uint32_t depth_ts, target_ts, jitter_ts; /**< buffered ahead, target delay, jitter */
    uint32_t packets;                        /**< packets held now */
} jitter_stats;

/** New buffer; NULL on a bad configuration or out of memory. */
jitter *jitter_create(const jitter_config *cfg);
/** Frees the buffer. */
void jitter_destroy(jitter *jb);
/** Drops everything held and starts again (new SSRC); counters are kept. */
void jitter_reset(jitter *jb);
/** Stores one packet. duration_ts is its length in timestamp units; arrival is the time it
 *  arrived, in timestamp units of any clock that runs at the RTP clock rate. */
jitter_result jitter_put(jitter *jb, uint16_t seq, uint32_t timestamp, const uint8_t *payload,
                         size_t len, unsigned duration_ts, uint32_t arrival);
/** Produces the next tick: samples_per_tick samples into pcm. */
jitter_status jitter_get(jitter *jb, int16_t *pcm);
/** Reads the counters and state. */
void jitter_get_stats(const jitter *jb, jitter_stats *out);

#endif
