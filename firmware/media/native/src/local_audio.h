/* The box's own sound card: a microphone and a speaker as a source and a sink of 20 ms frames
 * of 16 kHz mono audio, for the media engine's local leg.
 *
 * libasound is loaded at run time (dlopen), so the engine runs on a machine without it: the
 * device then reports itself unavailable. A thread of its own opens the devices, reopens them
 * with back-off when they fail or disappear, and moves audio between ALSA (non-blocking) and two
 * single-producer single-consumer rings. It is paced by the media thread's tick
 * (local_audio_tick), so a device without a clock of its own (ALSA's null and file plugins) runs
 * at the tick's rate, and a real card whose clock drifts from the tick loses a frame now and
 * then instead of piling up delay.
 *
 * The media thread calls only local_audio_tick, _pull, _push and _take_changed, which never
 * block and take no lock. Any thread may call local_audio_get_status. */
#ifndef CONFBOX_LOCAL_AUDIO_H
#define CONFBOX_LOCAL_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#define LOCAL_AUDIO_RATE   16000 /**< sample rate of the frames, Hz */
#define LOCAL_AUDIO_FRAME  320   /**< samples in one 20 ms frame */
#define LOCAL_AUDIO_NAME   128   /**< longest device name, with its NUL */
#define LOCAL_AUDIO_REASON 256   /**< longest status message, with its NUL */

typedef struct local_audio local_audio;

/** Where the devices are. */
typedef struct {
    const char *capture;   /**< ALSA PCM of the microphone, e.g. "plughw:1,0"; NULL or "": none */
    const char *playback;  /**< ALSA PCM of the speaker; NULL or "": none */
    unsigned retry_min_ms; /**< wait before the first reopen after a failure [1000] */
    unsigned retry_max_ms; /**< the wait doubles per failed attempt up to this [30000] */
} local_audio_config;

/** The devices' state. */
typedef enum {
    LOCAL_AUDIO_OPENING = 0,     /**< the first attempt has not finished */
    LOCAL_AUDIO_OK = 1,          /**< every configured device is open and running */
    LOCAL_AUDIO_UNAVAILABLE = 2, /**< a device could not be opened or was lost; retried */
} local_audio_state;

typedef struct {
    local_audio_state state;
    int error;                        /**< negative errno of the last failure; 0 when OK */
    char message[LOCAL_AUDIO_REASON]; /**< the failure in words, or the devices in use */
    uint32_t attempts;                /**< failed attempts since the last success */
    uint32_t retry_in_ms;             /**< while unavailable: time to the next attempt */
    uint32_t capture_channels;        /**< channels the devices were opened with (0: none) */
    uint32_t playback_channels;
    uint64_t captured;         /**< frames read from the microphone */
    uint64_t played;           /**< frames written to the speaker */
    uint64_t capture_dropped;  /**< frames dropped to keep the microphone's delay bounded */
    uint64_t playback_dropped; /**< frames the speaker had no room for (or no device took) */
    uint64_t xruns;            /**< ALSA overruns and underruns recovered */
} local_audio_status;

/** Starts the device thread, which opens the devices at once; -EINVAL if neither is named. */
int local_audio_create(const local_audio_config *cfg, local_audio **out);
/** Stops the thread and closes the devices. */
void local_audio_destroy(local_audio *la);

/** Media thread, once per tick after pull and push: lets the device thread move the audio. */
void local_audio_tick(local_audio *la);
/** Media thread: the next captured frame into frame; 0 (frame untouched) if none is ready. */
int local_audio_pull(local_audio *la, int16_t frame[LOCAL_AUDIO_FRAME]);
/** Media thread: a frame for the speaker (dropped if the device thread is behind). */
void local_audio_push(local_audio *la, const int16_t frame[LOCAL_AUDIO_FRAME]);
/** Media thread: 1 (and the state now) once after each change of state or message, else 0. */
int local_audio_take_changed(local_audio *la, local_audio_state *state);

void local_audio_get_status(local_audio *la, local_audio_status *out);

/** The PCM names ALSA's configuration lists (as `aplay -L` does), one "NAME\tIOID\n" a line
 * (IOID: Input, Output or empty for both), truncated to size; 0, or a negative errno with the
 * reason in why. Any thread may call it. */
int local_audio_list_devices(char *out, size_t size, char *why, size_t why_size);

#endif
