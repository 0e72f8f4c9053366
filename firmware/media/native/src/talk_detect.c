#include "talk_detect.h"

#include <string.h>

void talk_detect_init(talk_detector *d) {
    memset(d, 0, sizeof *d);
    d->block_min = UINT32_MAX;
}

uint32_t talk_detect_floor(const talk_detector *d) {
    if (d->blocks == 0) return 0;
    uint32_t floor = UINT32_MAX;
    for (unsigned i = 0; i < d->blocks; i++)
        if (d->window[i] < floor) floor = d->window[i];
    return floor;
}

static uint32_t frame_level(const int16_t *pcm, size_t n) {
    if (!pcm || n == 0) return 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += (uint32_t)(pcm[i] < 0 ? -(int32_t)pcm[i] : pcm[i]);
    return (uint32_t)(sum / n);
}

static void add_to_window(talk_detector *d, uint32_t level) {
    if (level < d->block_min) d->block_min = level;
    if (++d->block_frames < TALK_BLOCK_FRAMES) return;
    d->window[d->next_block] = d->block_min;
    d->next_block = (d->next_block + 1) % TALK_WINDOW_BLOCKS;
    if (d->blocks < TALK_WINDOW_BLOCKS) d->blocks++;
    d->block_min = UINT32_MAX;
    d->block_frames = 0;
}

static void follow_noise(talk_detector *d, uint32_t floor) {
    int noisy = (d->state & TALK_NOISY) != 0;
    int against = noisy ? floor < TALK_NOISY_LEVEL / 2 : floor >= TALK_NOISY_LEVEL;
    d->noisy_run = against ? d->noisy_run + 1 : 0;
    if (d->noisy_run >= TALK_NOISY_FRAMES) {
        d->state ^= TALK_NOISY;
        d->noisy_run = 0;
    }
}

static void follow_speech(talk_detector *d, uint32_t level, uint32_t floor) {
    /* The frame itself is in the window: speech is judged against the floor before it. */
    int speech = level >= TALK_MIN_LEVEL && (uint64_t)level >= (uint64_t)floor * TALK_ABOVE_FLOOR;
    if (speech) {
        d->quiet_run = 0;
        if (d->speech_run < TALK_ONSET) d->speech_run++;
        if (d->speech_run >= TALK_ONSET) d->state |= TALK_TALKING;
    } else {
        d->speech_run = 0;
        if (d->quiet_run < TALK_HANGOVER) d->quiet_run++;
        if (d->quiet_run >= TALK_HANGOVER) d->state &= ~(unsigned)TALK_TALKING;
    }
}

unsigned talk_detect(talk_detector *d, const int16_t *pcm, size_t n) {
    uint32_t level = frame_level(pcm, n);
    follow_speech(d, level, talk_detect_floor(d));
    add_to_window(d, level);
    follow_noise(d, talk_detect_floor(d));
    return d->state;
}
