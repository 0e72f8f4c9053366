/* The box's own sound card through ALSA, loaded at run time; one thread per device pair. */
#define _GNU_SOURCE
#include "local_audio.h"

#include <alsa/asoundlib.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define FRAME         LOCAL_AUDIO_FRAME
#define RING_SLOTS    8  /* 160 ms each way */
#define CAPTURE_DEPTH 2  /* captured frames kept ready for the mixer: 40 ms */
#define SURPLUS_TICKS 50 /* a microphone ahead by this many ticks in a row loses one frame */
#define PREFILL       2  /* silent frames the speaker starts with: 40 ms of cushion */
#define MAX_CHANNELS  8
#define PERIOD_FRAMES 160  /* 10 ms */
#define BUFFER_FRAMES 1280 /* 80 ms */
#define IDLE_WAIT_MS  200  /* longest sleep between ticks or retries */
#define STOP_WAIT_S   2    /* how long destroy waits for a device thread stuck in its driver */

/* ---- libasound, resolved at run time ---- */

#define ALSA_FUNCTIONS(X)                                                                          \
    X(snd_pcm_open)                                                                                \
    X(snd_pcm_close)                                                                               \
    X(snd_pcm_hw_params_malloc)                                                                    \
    X(snd_pcm_hw_params_free)                                                                      \
    X(snd_pcm_hw_params_any)                                                                       \
    X(snd_pcm_hw_params_set_access)                                                                \
    X(snd_pcm_hw_params_set_format)                                                                \
    X(snd_pcm_hw_params_set_channels_near)                                                         \
    X(snd_pcm_hw_params_set_rate_resample)                                                         \
    X(snd_pcm_hw_params_set_rate)                                                                  \
    X(snd_pcm_hw_params_set_period_size_near)                                                      \
    X(snd_pcm_hw_params_set_buffer_size_near)                                                      \
    X(snd_pcm_hw_params)                                                                           \
    X(snd_pcm_sw_params_malloc)                                                                    \
    X(snd_pcm_sw_params_free)                                                                      \
    X(snd_pcm_sw_params_current)                                                                   \
    X(snd_pcm_sw_params_set_start_threshold)                                                       \
    X(snd_pcm_sw_params_set_avail_min)                                                             \
    X(snd_pcm_sw_params)                                                                           \
    X(snd_pcm_prepare)                                                                             \
    X(snd_pcm_start)                                                                               \
    X(snd_pcm_drop)                                                                                \
    X(snd_pcm_resume)                                                                              \
    X(snd_pcm_avail_update)                                                                        \
    X(snd_pcm_readi)                                                                               \
    X(snd_pcm_writei)                                                                              \
    X(snd_strerror)                                                                                \
    X(snd_lib_error_set_handler)                                                                   \
    X(snd_config_update_free_global)                                                               \
    X(snd_device_name_hint)                                                                        \
    X(snd_device_name_get_hint)                                                                    \
    X(snd_device_name_free_hint)

static struct {
#define X(f) __typeof__(f) *f;
    ALSA_FUNCTIONS(X)
#undef X
} alsa;

static pthread_once_t alsa_once = PTHREAD_ONCE_INIT;
static char alsa_missing[200]; /* why libasound cannot be used; "" when it can */
static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned users; /* device threads alive: the last one out frees ALSA's config cache */

/* ALSA's own complaint about the last failure (it prints to stderr otherwise). */
static _Thread_local char alsa_said[160];

static void alsa_error(const char *file, int line, const char *function, int err, const char *fmt,
                       ...) {
    (void)file, (void)line, (void)function, (void)err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(alsa_said, sizeof alsa_said, fmt, ap);
    va_end(ap);
}

static void alsa_load(void) {
    void *lib = dlopen("libasound.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(alsa_missing, sizeof alsa_missing,
                 "libasound.so.2 cannot be loaded (%s); install libasound2", dlerror());
        return;
    }
#define X(f)                                                                                       \
    if (!(alsa.f = (__typeof__(f) *)dlsym(lib, #f))) {                                             \
        snprintf(alsa_missing, sizeof alsa_missing, "libasound.so.2 has no %s", #f);               \
        return;                                                                                    \
    }
    ALSA_FUNCTIONS(X)
#undef X
    alsa.snd_lib_error_set_handler(alsa_error);
}

int local_audio_list_devices(char *out, size_t size, char *why, size_t why_size) {
    pthread_once(&alsa_once, alsa_load);
    if (alsa_missing[0]) {
        snprintf(why, why_size, "%s", alsa_missing);
        return -ENOSYS;
    }
    /* counted as a user, so that no device thread frees ALSA's configuration while it is read */
    pthread_mutex_lock(&users_lock);
    users++;
    pthread_mutex_unlock(&users_lock);
    void **hints = NULL;
    int rc = alsa.snd_device_name_hint(-1, "pcm", &hints);
    if (rc < 0) snprintf(why, why_size, "ALSA cannot list its devices: %s", alsa.snd_strerror(rc));
    size_t used = 0;
    if (size) out[0] = '\0';
    for (void **h = hints; rc >= 0 && *h; h++) {
        char *name = alsa.snd_device_name_get_hint(*h, "NAME");
        char *ioid = alsa.snd_device_name_get_hint(*h, "IOID");
        if (name) {
            int n = snprintf(out + used, size - used, "%s\t%s\n", name, ioid ? ioid : "");
            if (n > 0 && (size_t)n < size - used)
                used += (size_t)n;
            else if (size > used)
                out[used] = '\0';
        }
        free(name);
        free(ioid);
    }
    if (rc >= 0) alsa.snd_device_name_free_hint(hints);
    pthread_mutex_lock(&users_lock);
    if (--users == 0) alsa.snd_config_update_free_global();
    pthread_mutex_unlock(&users_lock);
    return rc < 0 ? rc : 0;
}

/* ---- rings of frames (one producer, one consumer) ---- */

typedef struct {
    int16_t frames[RING_SLOTS][FRAME];
    atomic_uint head, tail;
} ring;

static unsigned ring_count(ring *r) {
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

static int ring_put(ring *r, const int16_t *f) {
    unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - atomic_load_explicit(&r->tail, memory_order_acquire) >= RING_SLOTS) return 0;
    memcpy(r->frames[head % RING_SLOTS], f, sizeof r->frames[0]);
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return 1;
}

static int ring_get(ring *r, int16_t *f) {
    unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail == atomic_load_explicit(&r->head, memory_order_acquire)) return 0;
    if (f) memcpy(f, r->frames[tail % RING_SLOTS], sizeof r->frames[0]);
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return 1;
}

/* ---- the device pair ---- */

struct local_audio {
    char capture[LOCAL_AUDIO_NAME], playback[LOCAL_AUDIO_NAME];
    unsigned retry_min_ms, retry_max_ms;
    pthread_t thread;
    int wakefd;
    atomic_int stop, changed, state; /* changed: a change not yet taken; state: st.state */
    atomic_int finished; /* set by the thread and by destroy: the second one frees everything */
    ring cap, play;
    atomic_uint_fast64_t captured, played, capture_dropped, playback_dropped, xruns;
    pthread_mutex_t lock; /* st and next_try_ms */
    local_audio_status st;
    uint64_t next_try_ms;
    /* device thread only */
    snd_pcm_t *cpcm, *ppcm;
    unsigned cch, pch;
    int16_t io[FRAME * MAX_CHANNELS];
    int16_t acc[FRAME]; /* a captured frame being filled */
    unsigned acc_n, surplus;
};

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void set_state(local_audio *la, local_audio_state state, int error, const char *message) {
    pthread_mutex_lock(&la->lock);
    int changed = la->st.state != state || strcmp(la->st.message, message) != 0;
    la->st.state = state;
    la->st.error = error;
    snprintf(la->st.message, sizeof la->st.message, "%s", message);
    la->st.capture_channels = la->cpcm ? la->cch : 0;
    la->st.playback_channels = la->ppcm ? la->pch : 0;
    if (state == LOCAL_AUDIO_OK) la->st.attempts = 0;
    pthread_mutex_unlock(&la->lock);
    atomic_store(&la->state, (int)state);
    if (changed) atomic_store(&la->changed, 1);
}

/* "what": ALSA's words for err, and its own complaint if it made one. */
static void describe(char *out, size_t size, const char *what, int err) {
    if (alsa_said[0] && strstr(alsa.snd_strerror(err), alsa_said) == NULL)
        snprintf(out, size, "%s: %s (%s)", what, alsa.snd_strerror(err), alsa_said);
    else
        snprintf(out, size, "%s: %s", what, alsa.snd_strerror(err));
}

/* Opens one device for 16 kHz 16-bit audio; on failure *why says which step refused it. */
static int open_pcm(const char *name, snd_pcm_stream_t stream, snd_pcm_t **out, unsigned *channels,
                    char *why, size_t why_size) {
    const char *kind = stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback";
    char what[LOCAL_AUDIO_REASON];
    snd_pcm_t *pcm = NULL;
    snd_pcm_hw_params_t *hw = NULL;
    snd_pcm_sw_params_t *sw = NULL;
    alsa_said[0] = 0;
    int rc = alsa.snd_pcm_open(&pcm, name, stream, SND_PCM_NONBLOCK);
    if (rc < 0) {
        snprintf(what, sizeof what, "%s device \"%s\" cannot be opened", kind, name);
        describe(why, why_size, what, rc);
        return rc;
    }
    const char *step = "refused its settings";
    unsigned ch = 1;
    snd_pcm_uframes_t period = PERIOD_FRAMES, buffer = BUFFER_FRAMES;
    if ((rc = alsa.snd_pcm_hw_params_malloc(&hw)) < 0 ||
        (rc = alsa.snd_pcm_hw_params_any(pcm, hw)) < 0)
        goto fail;
    step = "does not take interleaved access";
    if ((rc = alsa.snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0)
        goto fail;
    step = "does not take 16-bit samples (name a plughw: device, so that ALSA converts)";
    if ((rc = alsa.snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0) goto fail;
    step = "refused the channel count";
    if ((rc = alsa.snd_pcm_hw_params_set_channels_near(pcm, hw, &ch)) < 0) goto fail;
    rc = -EINVAL;
    if (ch < 1 || ch > MAX_CHANNELS) goto fail;
    alsa.snd_pcm_hw_params_set_rate_resample(pcm, hw, 1);
    step = "does not take 16000 Hz (name a plughw: device, so that ALSA converts)";
    if ((rc = alsa.snd_pcm_hw_params_set_rate(pcm, hw, LOCAL_AUDIO_RATE, 0)) < 0) goto fail;
    step = "refused the period and buffer sizes";
    if ((rc = alsa.snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, NULL)) < 0 ||
        (rc = alsa.snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)) < 0)
        goto fail;
    step = "refused its settings";
    if ((rc = alsa.snd_pcm_hw_params(pcm, hw)) < 0) goto fail;
    step = "refused its start settings";
    snd_pcm_uframes_t start = stream == SND_PCM_STREAM_PLAYBACK ? PREFILL * FRAME : 1;
    if ((rc = alsa.snd_pcm_sw_params_malloc(&sw)) < 0 ||
        (rc = alsa.snd_pcm_sw_params_current(pcm, sw)) < 0 ||
        (rc = alsa.snd_pcm_sw_params_set_start_threshold(pcm, sw, start)) < 0 ||
        (rc = alsa.snd_pcm_sw_params_set_avail_min(pcm, sw, FRAME)) < 0 ||
        (rc = alsa.snd_pcm_sw_params(pcm, sw)) < 0)
        goto fail;
    alsa.snd_pcm_hw_params_free(hw);
    alsa.snd_pcm_sw_params_free(sw);
    *out = pcm;
    *channels = ch;
    return 0;
fail:
    snprintf(what, sizeof what, "%s device \"%s\" %s", kind, name, step);
    describe(why, why_size, what, rc);
    if (hw) alsa.snd_pcm_hw_params_free(hw);
    if (sw) alsa.snd_pcm_sw_params_free(sw);
    alsa.snd_pcm_close(pcm);
    return rc;
}

static void close_devices(local_audio *la) {
    if (la->cpcm) {
        alsa.snd_pcm_drop(la->cpcm);
        alsa.snd_pcm_close(la->cpcm);
        la->cpcm = NULL;
    }
    if (la->ppcm) {
        alsa.snd_pcm_drop(la->ppcm);
        alsa.snd_pcm_close(la->ppcm);
        la->ppcm = NULL;
    }
}

/* "microphone "x", speaker "y" at 16000 Hz" for the devices that are open. */
static void describe_devices(const local_audio *la, char *out, size_t size) {
    int n = 0;
    if (la->cpcm) n = snprintf(out, size, "microphone \"%s\"", la->capture);
    if (n < 0 || (size_t)n >= size) n = 0;
    if (la->ppcm)
        n += snprintf(out + n, size - (size_t)n, "%sspeaker \"%s\"", n ? ", " : "", la->playback);
    if (n >= 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, " at %d Hz", LOCAL_AUDIO_RATE);
}

/* Silence ahead of the speaker's first frames, so that a late tick does not starve it. */
static int prefill(local_audio *la) {
    memset(la->io, 0, (size_t)FRAME * la->pch * sizeof la->io[0]);
    for (int i = 0; i < PREFILL; i++) {
        snd_pcm_sframes_t n = alsa.snd_pcm_writei(la->ppcm, la->io, FRAME);
        if (n < 0 && n != -EAGAIN) return (int)n;
    }
    return 0;
}

/* An xrun or a suspend is recovered here; anything else is returned as a lost device. */
static int recover(local_audio *la, snd_pcm_t *pcm, int err) {
    if (err == -ESTRPIPE) {
        int rc = alsa.snd_pcm_resume(pcm);
        if (rc == -EAGAIN) return 0; /* still suspended: try again next tick */
        if (rc == 0) return 0;
        err = -EPIPE;
    }
    if (err != -EPIPE) return err;
    atomic_fetch_add(&la->xruns, 1);
    int rc = alsa.snd_pcm_prepare(pcm);
    if (rc < 0) return rc;
    return pcm == la->ppcm ? prefill(la) : alsa.snd_pcm_start(pcm);
}

static int open_devices(local_audio *la, char *why, size_t why_size) {
    if (alsa_missing[0]) {
        snprintf(why, why_size, "%s", alsa_missing);
        return -ENOSYS;
    }
    int rc = 0;
    if (la->capture[0] &&
        (rc = open_pcm(la->capture, SND_PCM_STREAM_CAPTURE, &la->cpcm, &la->cch, why, why_size)))
        return rc;
    if (la->playback[0] && (rc = open_pcm(la->playback, SND_PCM_STREAM_PLAYBACK, &la->ppcm,
                                          &la->pch, why, why_size)) != 0) {
        close_devices(la);
        return rc;
    }
    if (la->ppcm && (rc = prefill(la)) != 0) {
        describe(why, why_size, "the playback device failed at its start", rc);
        close_devices(la);
        return rc;
    }
    if (la->cpcm && (rc = alsa.snd_pcm_start(la->cpcm)) < 0) {
        describe(why, why_size, "the capture device failed at its start", rc);
        close_devices(la);
        return rc;
    }
    la->acc_n = la->surplus = 0;
    while (ring_get(&la->cap, NULL)) { /* audio of before the failure is stale */
    }
    return 0;
}

/* Writes what the mixer produced; a full device (its clock is slower than the tick) drops. */
static int play(local_audio *la) {
    int16_t f[FRAME];
    while (ring_get(&la->play, f)) {
        if (!la->ppcm) continue; /* a microphone without a speaker */
        snd_pcm_sframes_t avail = alsa.snd_pcm_avail_update(la->ppcm);
        if (avail < 0) {
            int rc = recover(la, la->ppcm, (int)avail);
            if (rc < 0) return rc;
            avail = alsa.snd_pcm_avail_update(la->ppcm);
        }
        if (avail < FRAME) {
            atomic_fetch_add(&la->playback_dropped, 1);
            continue;
        }
        for (unsigned i = 0; i < FRAME; i++)
            for (unsigned c = 0; c < la->pch; c++) la->io[i * la->pch + c] = f[i];
        snd_pcm_sframes_t n = alsa.snd_pcm_writei(la->ppcm, la->io, FRAME);
        if (n == -EAGAIN) {
            atomic_fetch_add(&la->playback_dropped, 1);
            continue;
        }
        if (n < 0) {
            int rc = recover(la, la->ppcm, (int)n);
            if (rc < 0) return rc;
            continue;
        }
        atomic_fetch_add(&la->played, 1);
    }
    return 0;
}

/* Reads into the frame being filled; 1 when it is complete, 0 when the device has no more. */
static int read_some(local_audio *la) {
    snd_pcm_sframes_t n = alsa.snd_pcm_readi(la->cpcm, la->io, FRAME - la->acc_n);
    if (n == -EAGAIN || n == 0) return 0;
    if (n < 0) {
        int rc = recover(la, la->cpcm, (int)n);
        return rc < 0 ? rc : 0;
    }
    for (snd_pcm_sframes_t i = 0; i < n; i++) la->acc[la->acc_n++] = la->io[i * la->cch];
    if (la->acc_n < FRAME) return 0;
    la->acc_n = 0;
    return 1;
}

/* Keeps CAPTURE_DEPTH frames ready for the mixer, reading only what it takes (a device without
 * a clock is paced by the tick); a microphone that stays ahead loses a frame now and then. */
static int capture(local_audio *la) {
    snd_pcm_sframes_t avail = alsa.snd_pcm_avail_update(la->cpcm);
    if (avail < 0) return recover(la, la->cpcm, (int)avail);
    unsigned depth = ring_count(&la->cap);
    unsigned want = depth < CAPTURE_DEPTH ? CAPTURE_DEPTH - depth : 0;
    unsigned ready = (unsigned)(((snd_pcm_uframes_t)avail + la->acc_n) / FRAME);
    if (ready >= want + 2) {
        if (++la->surplus >= SURPLUS_TICKS) {
            la->surplus = 0;
            int rc = read_some(la);
            if (rc < 0) return rc;
            if (rc > 0) atomic_fetch_add(&la->capture_dropped, 1);
        }
    } else {
        la->surplus = 0;
    }
    for (unsigned i = 0; i < want; i++) {
        int rc = read_some(la);
        if (rc < 0) return rc;
        if (rc == 0) break;
        if (!ring_put(&la->cap, la->acc))
            atomic_fetch_add(&la->capture_dropped, 1);
        else
            atomic_fetch_add(&la->captured, 1);
    }
    return 0;
}

/* Sleeps until the next tick (or stop), at most timeout_ms. */
static void wait_tick(local_audio *la, int timeout_ms) {
    struct pollfd p = {.fd = la->wakefd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0) {
        uint64_t v;
        if (read(la->wakefd, &v, sizeof v) < 0) { /* nothing to do: the next poll wakes again */
        }
    }
}

/* Frees the device pair once its thread is gone. */
static void release(local_audio *la) {
    pthread_mutex_lock(&users_lock);
    /* ALSA keeps its parsed configuration for the process; nobody needs it any more */
    if (--users == 0 && !alsa_missing[0] && alsa.snd_config_update_free_global)
        alsa.snd_config_update_free_global();
    pthread_mutex_unlock(&users_lock);
    pthread_mutex_destroy(&la->lock);
    close(la->wakefd);
    free(la);
}

static void *device_thread(void *arg) {
    local_audio *la = arg;
    pthread_once(&alsa_once, alsa_load);
    unsigned backoff = la->retry_min_ms;
    char why[LOCAL_AUDIO_REASON];
    int open = 0;
    while (!atomic_load(&la->stop)) {
        if (!open) {
            uint64_t now = mono_ms();
            pthread_mutex_lock(&la->lock);
            uint64_t next = la->next_try_ms;
            pthread_mutex_unlock(&la->lock);
            if (now >= next) {
                int rc = open_devices(la, why, sizeof why);
                if (rc == 0) {
                    open = 1;
                    backoff = la->retry_min_ms;
                    char ok[LOCAL_AUDIO_REASON];
                    describe_devices(la, ok, sizeof ok);
                    set_state(la, LOCAL_AUDIO_OK, 0, ok);
                    continue;
                }
                pthread_mutex_lock(&la->lock);
                la->st.attempts++;
                la->next_try_ms = now + backoff;
                pthread_mutex_unlock(&la->lock);
                next = now + backoff;
                set_state(la, LOCAL_AUDIO_UNAVAILABLE, rc, why);
                backoff = backoff >= la->retry_max_ms / 2 ? la->retry_max_ms : backoff * 2;
            }
            while (ring_get(&la->play, NULL)) { /* nobody to play it to */
            }
            uint64_t wait = next > now ? next - now : 0;
            wait_tick(la, wait > IDLE_WAIT_MS ? IDLE_WAIT_MS : (int)wait);
            continue;
        }
        wait_tick(la, IDLE_WAIT_MS);
        alsa_said[0] = 0;
        const char *side = "speaker";
        int rc = play(la);
        if (rc == 0 && la->cpcm) {
            side = "microphone";
            rc = capture(la);
        }
        if (rc < 0) {
            char what[LOCAL_AUDIO_REASON];
            snprintf(what, sizeof what, "%s \"%s\" lost", side,
                     side[0] == 's' ? la->playback : la->capture);
            describe(why, sizeof why, what, rc);
            close_devices(la);
            open = 0;
            pthread_mutex_lock(&la->lock);
            la->next_try_ms = mono_ms() + la->retry_min_ms;
            pthread_mutex_unlock(&la->lock);
            set_state(la, LOCAL_AUDIO_UNAVAILABLE, rc, why);
        }
    }
    close_devices(la);
    if (atomic_exchange(&la->finished, 1)) release(la); /* destroy gave up waiting for it */
    return NULL;
}

int local_audio_create(const local_audio_config *cfg, local_audio **out) {
    const char *c = cfg->capture ? cfg->capture : "", *p = cfg->playback ? cfg->playback : "";
    if ((!c[0] && !p[0]) || strlen(c) >= LOCAL_AUDIO_NAME || strlen(p) >= LOCAL_AUDIO_NAME)
        return -EINVAL;
    local_audio *la = calloc(1, sizeof *la);
    if (!la) return -ENOMEM;
    snprintf(la->capture, sizeof la->capture, "%s", c);
    snprintf(la->playback, sizeof la->playback, "%s", p);
    la->retry_min_ms = cfg->retry_min_ms ? cfg->retry_min_ms : 1000;
    la->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 30000;
    if (la->retry_max_ms < la->retry_min_ms) la->retry_max_ms = la->retry_min_ms;
    la->st.state = LOCAL_AUDIO_OPENING;
    snprintf(la->st.message, sizeof la->st.message, "opening the devices");
    la->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (la->wakefd < 0) {
        int rc = -errno;
        free(la);
        return rc;
    }
    pthread_mutex_init(&la->lock, NULL);
    pthread_mutex_lock(&users_lock);
    users++;
    pthread_mutex_unlock(&users_lock);
    int rc = pthread_create(&la->thread, NULL, device_thread, la);
    if (rc != 0) {
        pthread_mutex_lock(&users_lock);
        users--;
        pthread_mutex_unlock(&users_lock);
        pthread_mutex_destroy(&la->lock);
        close(la->wakefd);
        free(la);
        return -rc;
    }
    *out = la;
    return 0;
}

void local_audio_destroy(local_audio *la) {
    if (!la) return;
    atomic_store(&la->stop, 1);
    local_audio_tick(la);
    /* a driver that hangs (a dying USB card) must not hang the engine's host with it */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_WAIT_S;
    if (pthread_timedjoin_np(la->thread, NULL, &deadline) == 0) {
        release(la);
        return;
    }
    pthread_detach(la->thread);
    if (atomic_exchange(&la->finished, 1)) release(la); /* it finished meanwhile */
}

void local_audio_tick(local_audio *la) {
    uint64_t one = 1;
    if (write(la->wakefd, &one, sizeof one) < 0) { /* already signalled: the counter is full */
    }
}

int local_audio_pull(local_audio *la, int16_t frame[LOCAL_AUDIO_FRAME]) {
    return ring_get(&la->cap, frame);
}

void local_audio_push(local_audio *la, const int16_t frame[LOCAL_AUDIO_FRAME]) {
    if (!ring_put(&la->play, frame)) atomic_fetch_add(&la->playback_dropped, 1);
}

int local_audio_take_changed(local_audio *la, local_audio_state *state) {
    if (!atomic_exchange(&la->changed, 0)) return 0;
    *state = (local_audio_state)atomic_load(&la->state);
    return 1;
}

void local_audio_get_status(local_audio *la, local_audio_status *out) {
    pthread_mutex_lock(&la->lock);
    *out = la->st;
    uint64_t now = mono_ms();
    out->retry_in_ms = out->state == LOCAL_AUDIO_UNAVAILABLE && la->next_try_ms > now
                           ? (uint32_t)(la->next_try_ms - now)
                           : 0;
    pthread_mutex_unlock(&la->lock);
    out->captured = atomic_load(&la->captured);
    out->played = atomic_load(&la->played);
    out->capture_dropped = atomic_load(&la->capture_dropped);
    out->playback_dropped = atomic_load(&la->playback_dropped);
    out->xruns = atomic_load(&la->xruns);
}
