/* Acoustic echo cancellation through speexdsp, loaded at run time. */
#define _GNU_SOURCE
#include "echo_cancel.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEEX_FUNCTIONS(X)                                                                         \
    X(speex_echo_state_init)                                                                       \
    X(speex_echo_state_destroy)                                                                    \
    X(speex_echo_cancellation)                                                                     \
    X(speex_echo_ctl)                                                                              \
    X(speex_preprocess_state_init)                                                                 \
    X(speex_preprocess_state_destroy)                                                              \
    X(speex_preprocess_ctl)                                                                        \
    X(speex_preprocess_run)

static struct {
#define X(f) __typeof__(f) *f;
    SPEEX_FUNCTIONS(X)
#undef X
} lib;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static char lib_missing[200];

static void lib_load(void) {
    void *h = dlopen("libspeexdsp.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lib_missing, sizeof lib_missing,
                 "libspeexdsp.so.1 cannot be loaded (%s); install libspeexdsp1", dlerror());
        return;
    }
#define X(f)                                                                                       \
    if (!(lib.f = (__typeof__(f) *)dlsym(h, #f))) {                                                \
        snprintf(lib_missing, sizeof lib_missing, "libspeexdsp.so.1 lacks %s", #f);                \
        return;                                                                                    \
    }
    SPEEX_FUNCTIONS(X)
#undef X
}

const char *echo_cancel_unavailable(void) {
    pthread_once(&lib_once, lib_load);
    return lib_missing[0] ? lib_missing : NULL;
}

struct echo_cancel {
    SpeexEchoState *echo;
    SpeexPreprocessState *pre;
    unsigned frame;
    /* The canceller adapts once a block: 10 ms blocks within a frame adapt twice as often as whole
     * 20 ms frames and converge within two seconds (test_echo_cancel), at the same cost. */
    unsigned block;
    /* The far frames not yet played into the room: a ring of delay_frames + 1 frames. */
    int16_t *delay;
    unsigned delay_frames, head;
    int has_far; /* a far frame was given since the last near one */
};

int echo_cancel_create(const echo_cancel_config *cfg, echo_cancel **out) {
    *out = NULL;
    if (echo_cancel_unavailable()) return -ENOSYS;
    if (!cfg->rate || !cfg->frame || cfg->tail_ms < 20 || cfg->tail_ms > 1000 ||
        cfg->delay_ms > 1000)
        return -EINVAL;
    echo_cancel *ec = calloc(1, sizeof *ec);
    if (!ec) return -ENOMEM;
    ec->frame = cfg->frame;
    unsigned ten_ms = cfg->rate / 100;
    ec->block = ten_ms && cfg->frame > ten_ms && cfg->frame % ten_ms == 0 ? ten_ms : cfg->frame;
    unsigned frame_ms = cfg->frame * 1000 / cfg->rate;
    ec->delay_frames = frame_ms ? cfg->delay_ms / frame_ms : 0;
    ec->delay = calloc((size_t)(ec->delay_frames + 1) * cfg->frame, sizeof *ec->delay);
    int tail = (int)(cfg->tail_ms * cfg->rate / 1000);
    ec->echo = ec->delay ? lib.speex_echo_state_init((int)ec->block, tail) : NULL;
    ec->pre = ec->echo ? lib.speex_preprocess_state_init((int)ec->block, (int)cfg->rate) : NULL;
    if (!ec->pre) {
        echo_cancel_destroy(ec);
        return -ENOMEM;
    }
    int rate = (int)cfg->rate;
    lib.speex_echo_ctl(ec->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    lib.speex_preprocess_ctl(ec->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, ec->echo);
    int denoise = cfg->noise_suppress < 0;
    lib.speex_preprocess_ctl(ec->pre, SPEEX_PREPROCESS_SET_DENOISE, &denoise);
    if (denoise) {
        int level = cfg->noise_suppress;
        lib.speex_preprocess_ctl(ec->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &level);
    }
    int suppress = cfg->echo_suppress < 0 ? cfg->echo_suppress : -40;
    int active = suppress / 2;
    lib.speex_preprocess_ctl(ec->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &suppress);
    lib.speex_preprocess_ctl(ec->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &active);
    *out = ec;
    return 0;
}

void echo_cancel_destroy(echo_cancel *ec) {
    if (!ec) return;
    if (ec->pre) lib.speex_preprocess_state_destroy(ec->pre);
    if (ec->echo) lib.speex_echo_state_destroy(ec->echo);
    free(ec->delay);
    free(ec);
}

void echo_cancel_far(echo_cancel *ec, const int16_t *speaker) {
    memcpy(ec->delay + (size_t)ec->head * ec->frame, speaker, ec->frame * sizeof *speaker);
    ec->has_far = 1;
}

void echo_cancel_near(echo_cancel *ec, const int16_t *mic, int16_t *out) {
    if (!ec->has_far)
        memset(ec->delay + (size_t)ec->head * ec->frame, 0, ec->frame * sizeof *ec->delay);
    ec->has_far = 0;
    /* The frame played delay_frames ago is what reaches the microphone now (the oldest in the
     * ring). */
    unsigned oldest = (ec->head + 1) % (ec->delay_frames + 1);
    const int16_t *far = ec->delay + (size_t)oldest * ec->frame;
    int16_t clean[ec->frame];
    for (unsigned at = 0; at < ec->frame; at += ec->block) {
        lib.speex_echo_cancellation(ec->echo, mic + at, far + at, clean + at);
        lib.speex_preprocess_run(ec->pre, clean + at);
    }
    memcpy(out, clean, ec->frame * sizeof *out);
    ec->head = oldest;
}
