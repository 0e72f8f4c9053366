/* Who is talking, and whose line is noisy: speech activity in a leg's decoded audio, for the live
 * view's talking indicator and its "noisy line" warning.
 *
 * Each 20 ms frame gets a level: its mean absolute amplitude. The line's noise floor is the
 * quietest level of the last TALK_WINDOW_BLOCKS completed blocks of TALK_BLOCK_FRAMES frames
 * (about 3 s; 0 before the first block completes): people pause between words, a line's hiss or
 * hum does not. A frame is speech when its level is
 * at least TALK_MIN_LEVEL and TALK_ABOVE_FLOOR times the floor (12 dB). Talking starts after
 * TALK_ONSET speech frames in a row (60 ms) and ends after TALK_HANGOVER frames without (0.5 s),
 * so the indicator does not flicker between words. A line is noisy while its floor stays at or
 * above TALK_NOISY_LEVEL (about -40 dBFS) for TALK_NOISY_FRAMES (2 s); it is quiet again once the
 * floor stays under half that for as long. A steady sound (a tone, music on hold) is heard as
 * talking for at most the window, then as noise when it is loud enough.
 * Portable C11, integers only, no allocation: one state per leg, owned by the media thread. */
#ifndef CONFBOX_TALK_DETECT_H
#define CONFBOX_TALK_DETECT_H

#include <stddef.h>
#include <stdint.h>

#define TALK_BLOCK_FRAMES  25  /**< frames per block of the floor's window (0.5 s) */
#define TALK_WINDOW_BLOCKS 6   /**< blocks the floor looks back over (3 s) */
#define TALK_MIN_LEVEL     100 /**< quietest speech (mean absolute amplitude, about -50 dBFS) */
#define TALK_ABOVE_FLOOR   4   /**< speech stands this many times above the floor */
#define TALK_ONSET         3   /**< speech frames in a row that start talking */
#define TALK_HANGOVER      25  /**< frames without speech that end it */
#define TALK_NOISY_LEVEL   330 /**< a floor this loud is a noisy line (about -40 dBFS) */
#define TALK_NOISY_FRAMES  100 /**< frames the floor must stay loud (or quiet) to change that */

/** What the detector reports: bit flags. */
enum {
    TALK_TALKING = 1, /**< the leg is talking now */
    TALK_NOISY = 2,   /**< the leg's line is noisy */
};

/** One leg's detector state. */
typedef struct {
    uint32_t block_min;                  /**< quietest level of the current block */
    unsigned block_frames;               /**< frames in the current block */
    uint32_t window[TALK_WINDOW_BLOCKS]; /**< quietest level of each earlier block */
    unsigned blocks;                     /**< earlier blocks held (up to the window) */
    unsigned next_block;                 /**< where the next finished block goes */
    unsigned speech_run, quiet_run;      /**< consecutive frames with and without speech */
    unsigned noisy_run;                  /**< consecutive frames against the noisy state */
    unsigned state;                      /**< TALK_TALKING | TALK_NOISY */
} talk_detector;

/** A detector for a new leg: silent, not noisy. */
void talk_detect_init(talk_detector *d);

/** Takes one frame of n samples (NULL: nothing was received, which is silence); returns the
 *  state after it (TALK_TALKING | TALK_NOISY bits). */
unsigned talk_detect(talk_detector *d, const int16_t *pcm, size_t n);

/** The noise floor now (mean absolute amplitude), for tests and statistics. */
uint32_t talk_detect_floor(const talk_detector *d);

#endif
