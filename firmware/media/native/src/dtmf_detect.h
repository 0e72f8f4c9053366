/* In-band DTMF: key presses heard as dual tones in a leg's decoded audio, and one digit per key
 * press when a phone signals it both as RFC 4733 events and as tones.
 *
 * The detector measures the power of the eight tones of Q.23 (four rows, four columns) in blocks
 * of DTMF_BLOCK samples at 8 kHz (12.75 ms, so that a tone up to 2 % off frequency still falls in
 * its bin): each is one bin of the block's discrete Fourier transform, two dot products of the
 * block with 16-bit cosine and sine tables, which compilers turn into vector multiply-adds (the
 * same power a Goertzel filter gives, without its per-sample chain of 64-bit products); 16 kHz
 * audio (G.722) is first halved by a half-band filter.
 * A block holds a key when, for the strongest row and column tone:
 *   - each is at least DTMF_MIN_AMPLITUDE (about -32 dBm0),
 *   - the twist is within 8 dB (column weaker) or 4 dB (row weaker), as lines attenuate the
 *     high group more,
 *   - each stands at least 8 dB above the other tones of its group,
 *   - the two tones carry most of the block's energy (speech and music spread theirs),
 *   - the twist stays within 3 dB of the previous block's (a key's tones keep their levels).
 * A key press is reported when DTMF_HITS consecutive blocks hold the same key (about 50 to 60 ms
 * of tone), and ends after two blocks without it, so one press is one digit; a key held down is
 * one digit. Portable C11, no
 * floating point, no allocation: one state per leg, owned by the media thread. */
#ifndef CONFBOX_DTMF_DETECT_H
#define CONFBOX_DTMF_DETECT_H

#include <stddef.h>
#include <stdint.h>

#define DTMF_BLOCK         102 /**< samples per analysis block at 8 kHz (12.75 ms) */
#define DTMF_BLOCK_PADDED  104 /**< the block's storage, a whole number of 8-sample vectors */
#define DTMF_HITS          4   /**< consecutive blocks that make a key press */
#define DTMF_MIN_AMPLITUDE 500 /**< weakest tone accepted (peak, 16-bit scale) */

/** One stream's detector state. */
typedef struct {
    int16_t block[DTMF_BLOCK_PADDED]; /**< the block's samples at 8 kHz so far; zero past the end */
    unsigned n;                       /**< samples of the block so far */
    int16_t hist[6];                  /**< last 16 kHz input samples, for the half-band filter */
    unsigned phase;                   /**< 16 kHz input: 1 when the next sample completes a pair */
    char last;                        /**< key of the previous block, 0 for none */
    int64_t last_row, last_col;       /**< its tones' powers (scaled) */
    unsigned hits;                    /**< consecutive blocks holding `last` */
    unsigned misses;                  /**< consecutive blocks without `current` */
    char current;                     /**< key press being heard (reported), 0 for none */
} dtmf_detector;

/** Starts (or starts again, e.g. on a new SSRC) with no key heard. */
void dtmf_detector_reset(dtmf_detector *d);
/** Feeds n samples of audio at rate (8000 or 16000 Hz; NULL pcm: n samples of silence).
 *  Returns the key (one of 0-9 * # A-D) whose press was recognised in these samples, or 0.
 *  Feed at most 50 ms per call (the engine feeds 20 ms), which cannot hold two presses. */
char dtmf_detect(dtmf_detector *d, const int16_t *pcm, size_t n, unsigned rate);
/** The key press being heard now (0 for none). */
static inline char dtmf_detect_current(const dtmf_detector *d) {
    return d->current;
}

/** How long one source's key press stays available to absorb the other source's report of the
 *  same key: the tone reaches the detector after the jitter buffer (up to 160 ms) and two
 *  blocks, while RFC 4733 packets arrive at once and are repeated through the press. */
#define DTMF_PAIR_US 500000u

/** The two ways a leg's media signals keys: RFC 4733 events and in-band tones. A press reported
 *  by one source absorbs one press of the same key by the other source that starts within
 *  DTMF_PAIR_US of its last sign of life, so a phone that sends both counts each press once, and
 *  a key pressed twice is still two digits. */
typedef struct {
    char event_key, tone_key;      /**< latest press of each source, 0 for none */
    uint64_t event_us, tone_us;    /**< its last packet / last block heard */
    int event_paired, tone_paired; /**< it already absorbed the other source's press */
} dtmf_sources;

/** An RFC 4733 packet for key arrived at now_us (µs, any monotonic clock); pressed is what
 *  rtp_dtmf_feed() returned for it. Returns the digit to report, or 0. */
char dtmf_sources_event(dtmf_sources *s, char key, char pressed, uint64_t now_us);
/** The detector ran at now_us: heard is dtmf_detect_current(), pressed what dtmf_detect()
 *  returned. Returns the digit to report, or 0. */
char dtmf_sources_tone(dtmf_sources *s, char heard, char pressed, uint64_t now_us);

#endif
