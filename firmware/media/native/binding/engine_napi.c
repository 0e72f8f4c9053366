/* N-API binding of the media engine (src/engine.h): argument checks, value conversion, events.
 *
 * Loaded only by firmware/media/native-engine.ts, which validates options with friendlier
 * messages first; every argument is checked again here, and a wrong type throws a TypeError
 * naming it. The engine's notify callback runs on the media thread and only signals a
 * thread-safe function (non-blocking, coalesced to one pending call); its JS callback then
 * drains the event ring with poll(). */
#include <node_api.h>

#include "../src/engine.h"
#include "../src/talk_detect.h"
#include "errno_name.h"
#include "gpio.h"
#include "memory.h"
#include "notify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_MAX  64 /* longer than any numeric IPv6 address */
#define CNAME_MAX 64 /* the engine keeps 63 characters */
#define POLL_MAX  256

typedef struct {
    engine *e;                     /* NULL once destroyed */
    napi_threadsafe_function tsfn; /* wakes the JS thread; its JS function is config.onEvents */
    int tsfn_released;             /* released or finalized: never touch it again */
    atomic_int signalled;          /* a wake-up is queued and not yet delivered */
    int refs;                      /* the external and the tsfn (JS thread only) */
    char bind_address[ADDR_MAX];
    char cname[CNAME_MAX];
} handle;

/* Marks externals created here, so another addon's external is refused as a handle. */
static const napi_type_tag HANDLE_TAG = {0x636f6e66626f7865ULL, 0x656e67696e653031ULL};

/* ---- errors ---- */

/* Throws an Error for a failed N-API call, unless one is already pending. */
static void throw_napi(napi_env env) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return;
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "ERR_CONFBOX_NAPI",
                     info && info->error_message ? info->error_message : "N-API call failed");
}

#define CHECK(env, call)                                                                           \
    do {                                                                                           \
        if ((call) != napi_ok) {                                                                   \
            throw_napi(env);                                                                       \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

static void throw_type(napi_env env, const char *name, const char *what) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be %s", name, what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

static void throw_range(napi_env env, const char *name, const char *what) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be %s", name, what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

/* Throws an Error for an engine function's negative errno: message, code and errno (negative,
 * as Node's system errors have it). */
static void throw_engine(napi_env env, const char *fn, int rc) {
    int err = -rc;
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s", fn, strerror(err));
    napi_value code, text, error, num;
    if (napi_create_string_utf8(env, confbox_errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok ||
        napi_create_error(env, code, text, &error) != napi_ok ||
        napi_create_int32(env, rc, &num) != napi_ok ||
        napi_set_named_property(env, error, "errno", num) != napi_ok ||
        napi_throw(env, error) != napi_ok)
        throw_napi(env);
}

/* ---- arguments ---- */

static int is_type(napi_env env, napi_value v, napi_valuetype want) {
    napi_valuetype t;
    return napi_typeof(env, v, &t) == napi_ok && t == want;
}

static int is_undefined(napi_env env, napi_value v) {
    return is_type(env, v, napi_undefined);
}

/* An integer number in [min, max]; 0 on success, -1 with an exception thrown. */
static int get_uint(napi_env env, napi_value v, const char *name, double min, double max,
                    uint32_t *out) {
    double d;
    if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) {
        throw_type(env, name, "a number");
        return -1;
    }
    if (d != d || d < min || d > max || d != (double)(uint32_t)d) {
        char what[96];
        snprintf(what, sizeof what, "an integer from %.0f to %.0f", min, max);
        throw_range(env, name, what);
        return -1;
    }
    *out = (uint32_t)d;
    return 0;
}

static int get_bool(napi_env env, napi_value v, const char *name, int *out) {
    bool b;
    if (!is_type(env, v, napi_boolean) || napi_get_value_bool(env, v, &b) != napi_ok) {
        throw_type(env, name, "a boolean");
        return -1;
    }
    *out = b;
    return 0;
}

/* A string that fits buf (with its NUL). */
static int get_string(napi_env env, napi_value v, const char *name, char *buf, size_t size) {
    size_t len;
    if (!is_type(env, v, napi_string) ||
        napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
        throw_type(env, name, "a string");
        return -1;
    }
    if (len == 0 || len >= size) {
        char what[64];
        snprintf(what, sizeof what, "1 to %zu bytes long", size - 1);
        throw_range(env, name, what);
        return -1;
    }
    if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
        throw_napi(env);
        return -1;
    }
    return 0;
}

/* obj[key], or NULL (no exception) when it is undefined. -1 with an exception on failure. */
static int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
    if (napi_get_named_property(env, obj, key, out) != napi_ok) {
        throw_napi(env);
        return -1;
    }
    if (is_undefined(env, *out)) *out = NULL;
    return 0;
}

static int get_object(napi_env env, napi_value v, const char *name) {
    if (!is_type(env, v, napi_object)) {
        throw_type(env, name, "an object");
        return -1;
    }
    return 0;
}

/* The handle create() returned; a destroyed one throws unless allow_destroyed. */
static handle *get_handle(napi_env env, napi_value v, int allow_destroyed) {
    bool ours = false;
    void *data = NULL;
    if (!is_type(env, v, napi_external) ||
        napi_check_object_type_tag(env, v, &HANDLE_TAG, &ours) != napi_ok || !ours ||
        napi_get_value_external(env, v, &data) != napi_ok) {
        throw_type(env, "handle", "an engine handle from create()");
        return NULL;
    }
    handle *h = data;
    if (!h->e && !allow_destroyed) {
        napi_throw_error(env, "ERR_CONFBOX_ENGINE_DESTROYED", "the engine is destroyed");
        return NULL;
    }
    return h;
}

/* Fetches exactly n arguments (missing ones are undefined) and the handle in argv[0]. */
static handle *args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
    size_t argc = n;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
        throw_napi(env);
        return NULL;
    }
    return get_handle(env, argv[0], 0);
}

static int get_target(napi_env env, napi_value v, engine_target *out) {
    char s[16];
    size_t len;
    if (!is_type(env, v, napi_string) ||
        napi_get_value_string_utf8(env, v, s, sizeof s, &len) != napi_ok) {
        throw_type(env, "target", "a string");
        return -1;
    }
    if (strcmp(s, "leg") == 0) {
        *out = ENGINE_TARGET_LEG;
    } else if (strcmp(s, "conference") == 0) {
        *out = ENGINE_TARGET_CONFERENCE;
    } else {
        throw_range(env, "target", "'leg' or 'conference'");
        return -1;
    }
    return 0;
}

/* A Uint8Array (or Buffer) of exactly len octets, copied into out. */
static int get_bytes(napi_env env, napi_value v, const char *name, uint8_t *out, size_t len) {
    bool is;
    napi_typedarray_type type;
    size_t n;
    void *data;
    if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, v, &type, &n, &data, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
        throw_type(env, name, "a Uint8Array");
        return -1;
    }
    if (n != len) {
        char what[48];
        snprintf(what, sizeof what, "%zu octets long", len);
        throw_range(env, name, what);
        return -1;
    }
    memcpy(out, data, len);
    return 0;
}

/* SRTP of a leg: {suite: 1 (AES_CM_128_HMAC_SHA1_80) | 2 (_32), txKey, rxKey} (30 octets each). */
static int get_srtp(napi_env env, napi_value v, engine_leg_options *o) {
    napi_value p;
    uint32_t u;
    if (get_object(env, v, "options.srtp") != 0) return -1;
    if (get_prop(env, v, "suite", &p) != 0) return -1;
    if (!p) return throw_type(env, "options.srtp.suite", "a number"), -1;
    if (get_uint(env, p, "options.srtp.suite", 1, 2, &u) != 0) return -1;
    o->srtp = (rtpsec_suite)u;
    if (get_prop(env, v, "txKey", &p) != 0) return -1;
    if (!p) return throw_type(env, "options.srtp.txKey", "a Uint8Array"), -1;
    if (get_bytes(env, p, "options.srtp.txKey", o->srtp_tx_key, RTPSEC_KEY_LEN) != 0) return -1;
    if (get_prop(env, v, "rxKey", &p) != 0) return -1;
    if (!p) return throw_type(env, "options.srtp.rxKey", "a Uint8Array"), -1;
    return get_bytes(env, p, "options.srtp.rxKey", o->srtp_rx_key, RTPSEC_KEY_LEN);
}

/* Leg options: {codec, payloadType, dtmfPayloadType, ptimeMs, rtpTimeoutMs?, symmetric?,
 * direction? (ENGINE_DIR_* flags), srtp?}. */
static int get_leg_options(napi_env env, napi_value v, engine_leg_options *o) {
    napi_value p;
    uint32_t u;
    memset(o, 0, sizeof *o);
    if (get_object(env, v, "options") != 0) return -1;

    if (get_prop(env, v, "codec", &p) != 0) return -1;
    if (!p) return throw_type(env, "options.codec", "a number"), -1;
    if (get_uint(env, p, "options.codec", 0, 127, &u) != 0) return -1;
    if (u != ENGINE_CODEC_PCMU && u != ENGINE_CODEC_PCMA && u != ENGINE_CODEC_G722)
        return throw_range(env, "options.codec", "0 (PCMU), 8 (PCMA) or 9 (G722)"), -1;
    o->codec = (engine_codec)u;

    if (get_prop(env, v, "payloadType", &p) != 0) return -1;
    if (!p) return throw_type(env, "options.payloadType", "a number"), -1;
    if (get_uint(env, p, "options.payloadType", 0, 127, &u) != 0) return -1;
    o->payload_type = (uint8_t)u;

    o->dtmf_payload_type = -1;
    if (get_prop(env, v, "dtmfPayloadType", &p) != 0) return -1;
    if (p) {
        double d;
        if (!is_type(env, p, napi_number) || napi_get_value_double(env, p, &d) != napi_ok)
            return throw_type(env, "options.dtmfPayloadType", "a number"), -1;
        if (d != -1) {
            if (get_uint(env, p, "options.dtmfPayloadType", 0, 127, &u) != 0) return -1;
            o->dtmf_payload_type = (int)u;
        }
    }

    o->ptime_ms = 20;
    if (get_prop(env, v, "ptimeMs", &p) != 0) return -1;
    if (p) {
        if (get_uint(env, p, "options.ptimeMs", 10, 60, &u) != 0) return -1;
        if (u % 10) return throw_range(env, "options.ptimeMs", "a multiple of 10"), -1;
        o->ptime_ms = u;
    }

    if (get_prop(env, v, "rtpTimeoutMs", &p) != 0) return -1;
    if (p && get_uint(env, p, "options.rtpTimeoutMs", 0, UINT32_MAX, &o->rtp_timeout_ms) != 0)
        return -1;

    if (get_prop(env, v, "symmetric", &p) != 0) return -1;
    if (p && get_bool(env, p, "options.symmetric", &o->symmetric) != 0) return -1;

    if (get_prop(env, v, "direction", &p) != 0) return -1;
    if (p && get_uint(env, p, "options.direction", 0, ENGINE_DIR_NO_SEND | ENGINE_DIR_NO_RECEIVE,
                      &o->direction) != 0)
        return -1;

    if (get_prop(env, v, "srtp", &p) != 0) return -1;
    if (p && get_srtp(env, p, o) != 0) return -1;
    return 0;
}

/* ---- values ---- */

static int set_bool(napi_env env, napi_value obj, const char *key, int v) {
    napi_value b;
    return napi_get_boolean(env, v != 0, &b) == napi_ok &&
                   napi_set_named_property(env, obj, key, b) == napi_ok
               ? 0
               : -1;
}

static int set_num(napi_env env, napi_value obj, const char *key, double v) {
    napi_value n;
    return napi_create_double(env, v, &n) == napi_ok &&
                   napi_set_named_property(env, obj, key, n) == napi_ok
               ? 0
               : -1;
}

static int set_str(napi_env env, napi_value obj, const char *key, const char *v, size_t len) {
    napi_value s;
    return napi_create_string_utf8(env, v, len, &s) == napi_ok &&
                   napi_set_named_property(env, obj, key, s) == napi_ok
               ? 0
               : -1;
}

/* ---- lifecycle and events ---- */

static void unref_handle(handle *h) {
    if (--h->refs == 0) free(h);
}

/* Media thread: must not block. Coalesced, so at most one wake-up is ever queued. */
static void notify(void *ctx) {
    handle *h = ctx;
    if (atomic_exchange(&h->signalled, 1)) return;
    if (napi_call_threadsafe_function(h->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok)
        atomic_store(&h->signalled, 0); /* closing: nobody will drain any more */
}

/* JS thread: tell JS that events wait; it drains them with poll(). */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
    (void)data;
    handle *h = context;
    atomic_store(&h->signalled, 0); /* before draining, so a later event signals again */
    if (!env || !js_cb || !h->e) return;
    napi_value undefined;
    if (napi_get_undefined(env, &undefined) != napi_ok) return;
    if (napi_call_function(env, undefined, js_cb, 0, NULL, NULL) == napi_pending_exception) {
        napi_value err; /* a throwing listener is the process's uncaught exception */
        if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
}

/* Stops the media thread (so notify is never called again), then lets the tsfn go. */
static void shutdown_handle(handle *h) {
    if (h->e) {
        engine_destroy(h->e);
        h->e = NULL;
    }
    if (!h->tsfn_released) {
        h->tsfn_released = 1;
        napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
    }
}

/* The tsfn is gone (released, or the environment is being torn down). */
static void tsfn_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    handle *h = data;
    h->tsfn_released = 1;
    if (h->e) { /* environment teardown without destroy(): join the thread before Node frees */
        engine_destroy(h->e);
        h->e = NULL;
    }
    unref_handle(h);
}

/* The handle was collected: destroy() was forgotten, so do it now. */
static void external_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    handle *h = data;
    shutdown_handle(h);
    unref_handle(h);
}

/* create({bindAddress?, portMin?, portMax?, maxLegs?, rtpTimeoutMs?, vadLevel?, cname?,
 *         rtPriority?, mediaThreads?, onEvents}) -> handle */
static napi_value js_create(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value cfgv, p;
    CHECK(env, napi_get_cb_info(env, info, &argc, &cfgv, NULL, NULL));
    if (argc < 1) napi_get_undefined(env, &cfgv);
    if (get_object(env, cfgv, "config") != 0) return NULL;

    handle *h = calloc(1, sizeof *h);
    if (!h) {
        napi_throw_error(env, "ENOMEM", "out of memory");
        return NULL;
    }
    engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    uint32_t u;
    napi_value on_events = NULL;

#define NUM_FIELD(key, lo, hi, dst)                                                                \
    if (get_prop(env, cfgv, key, &p) != 0) goto fail;                                              \
    if (p) {                                                                                       \
        if (get_uint(env, p, "config." key, lo, hi, &u) != 0) goto fail;                           \
        dst = u;                                                                                   \
    }
    if (get_prop(env, cfgv, "bindAddress", &p) != 0) goto fail;
    if (p) {
        if (get_string(env, p, "config.bindAddress", h->bind_address, sizeof h->bind_address))
            goto fail;
        cfg.bind_address = h->bind_address;
    }
    NUM_FIELD("portMin", 1, 65535, cfg.port_min)
    NUM_FIELD("portMax", 1, 65535, cfg.port_max)
    NUM_FIELD("maxLegs", 1, 65535, cfg.max_legs)
    NUM_FIELD("rtpTimeoutMs", 1, UINT32_MAX, cfg.rtp_timeout_ms)
    NUM_FIELD("vadLevel", 0, 32767, cfg.vad_level)
    NUM_FIELD("rtPriority", 0, 99, cfg.rt_priority)
    NUM_FIELD("mediaThreads", 1, ENGINE_MAX_THREADS, cfg.media_threads)
    NUM_FIELD("latchQuietMs", 1, 3600000, cfg.latch_quiet_ms)
    NUM_FIELD("unansweredMs", 1, 3600000, cfg.unanswered_ms)
#undef NUM_FIELD
    if (get_prop(env, cfgv, "cname", &p) != 0) goto fail;
    if (p) {
        if (get_string(env, p, "config.cname", h->cname, sizeof h->cname)) goto fail;
        cfg.cname = h->cname;
    }
    if (get_prop(env, cfgv, "onEvents", &on_events) != 0) goto fail;
    if (!on_events || !is_type(env, on_events, napi_function)) {
        throw_type(env, "config.onEvents", "a function");
        goto fail;
    }

    napi_value name;
    if (napi_create_string_utf8(env, "confbox engine events", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, on_events, NULL, name, 0, 1, h, tsfn_finalize, h,
                                        call_js, &h->tsfn) != napi_ok) {
        throw_napi(env);
        goto fail;
    }
    h->refs = 1; /* the tsfn's; from here on h is freed through unref_handle */
    /* an idle engine must not keep the process alive */
    if (napi_unref_threadsafe_function(env, h->tsfn) != napi_ok) {
        throw_napi(env);
        shutdown_handle(h);
        return NULL;
    }

    cfg.notify = notify;
    cfg.notify_ctx = h;
    int rc = engine_create(&cfg, &h->e);
    if (rc != 0) {
        h->e = NULL;
        shutdown_handle(h);
        throw_engine(env, "engine_create", rc);
        return NULL;
    }
    napi_value ext;
    if (napi_create_external(env, h, external_finalize, NULL, &ext) != napi_ok) {
        throw_napi(env);
        shutdown_handle(h);
        return NULL;
    }
    h->refs++;
    if (napi_type_tag_object(env, ext, &HANDLE_TAG) != napi_ok) {
        throw_napi(env);
        shutdown_handle(h); /* the external's finalizer drops the last reference */
        return NULL;
    }
    return ext;
fail:
    free(h);
    return NULL;
}

/* destroy(handle): stops the engine, closing every leg; a second call does nothing. */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) napi_get_undefined(env, &argv[0]);
    handle *h = get_handle(env, argv[0], 1);
    if (!h) return NULL;
    shutdown_handle(h);
    return NULL;
}

/* openLeg(handle, options) -> {leg, localPort} */
static napi_value js_open_leg(napi_env env, napi_callback_info info) {
    napi_value argv[2], out;
    handle *h = args(env, info, 2, argv);
    engine_leg_options o;
    if (!h || get_leg_options(env, argv[1], &o) != 0) return NULL;
    uint32_t leg;
    uint16_t port;
    int rc = engine_open_leg(h->e, &o, &leg, &port);
    if (rc) return throw_engine(env, "engine_open_leg", rc), NULL;
    CHECK(env, napi_create_object(env, &out));
    if (set_num(env, out, "leg", leg) || set_num(env, out, "localPort", port))
        return throw_napi(env), NULL;
    return out;
}

/* connectLeg(handle, leg, address, port, options | null) */
static napi_value js_connect_leg(napi_env env, napi_callback_info info) {
    napi_value argv[5];
    handle *h = args(env, info, 5, argv);
    uint32_t leg, port;
    char addr[ADDR_MAX];
    engine_leg_options o;
    int keep = 0;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg) ||
        get_string(env, argv[2], "address", addr, sizeof addr) ||
        get_uint(env, argv[3], "port", 0, 65535, &port))
        return NULL;
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[4], &t));
    if (t == napi_null || t == napi_undefined)
        keep = 1;
    else if (get_leg_options(env, argv[4], &o) != 0)
        return NULL;
    int rc = engine_connect_leg(h->e, leg, addr, (uint16_t)port, keep ? NULL : &o);
    if (rc) throw_engine(env, "engine_connect_leg", rc);
    return NULL;
}

/* closeLeg(handle, leg) */
static napi_value js_close_leg(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    handle *h = args(env, info, 2, argv);
    uint32_t leg;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg)) return NULL;
    int rc = engine_close_leg(h->e, leg);
    if (rc) throw_engine(env, "engine_close_leg", rc);
    return NULL;
}

/* join(handle, leg, conference) */
static napi_value js_join(napi_env env, napi_callback_info info) {
    napi_value argv[3];
    handle *h = args(env, info, 3, argv);
    uint32_t leg, conf;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg) ||
        get_uint(env, argv[2], "conference", 0, UINT32_MAX, &conf))
        return NULL;
    int rc = engine_join(h->e, leg, conf);
    if (rc) throw_engine(env, "engine_join", rc);
    return NULL;
}

/* leave(handle, leg) */
static napi_value js_leave(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    handle *h = args(env, info, 2, argv);
    uint32_t leg;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg)) return NULL;
    int rc = engine_leave(h->e, leg);
    if (rc) throw_engine(env, "engine_leave", rc);
    return NULL;
}

/* setMuted(handle, leg, muted) */
static napi_value js_set_muted(napi_env env, napi_callback_info info) {
    napi_value argv[3];
    handle *h = args(env, info, 3, argv);
    uint32_t leg;
    int muted;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg) ||
        get_bool(env, argv[2], "muted", &muted))
        return NULL;
    int rc = engine_set_muted(h->e, leg, muted);
    if (rc) throw_engine(env, "engine_set_muted", rc);
    return NULL;
}

/* addSound(handle, pcm: Int16Array, rate: 8000 | 16000) -> sound */
static napi_value js_add_sound(napi_env env, napi_callback_info info) {
    napi_value argv[3], out;
    handle *h = args(env, info, 3, argv);
    if (!h) return NULL;
    bool is_ta = false;
    napi_typedarray_type type = napi_uint8_array;
    size_t length = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta ||
        napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_int16_array)
        return throw_type(env, "pcm", "an Int16Array"), NULL;
    if (length == 0) return throw_range(env, "pcm", "at least one sample long"), NULL;
    uint32_t rate;
    if (get_uint(env, argv[2], "rate", 0, UINT32_MAX, &rate)) return NULL;
    if (rate != 8000 && rate != 16000) return throw_range(env, "rate", "8000 or 16000"), NULL;
    uint32_t id;
    int rc = engine_add_sound(h->e, data, length, rate, &id);
    if (rc) return throw_engine(env, "engine_add_sound", rc), NULL;
    CHECK(env, napi_create_uint32(env, id, &out));
    return out;
}

/* play(handle, target: 'leg' | 'conference', id, sound, {loop?, replace?}?) -> playback */
static napi_value js_play(napi_env env, napi_callback_info info) {
    napi_value argv[5], p, out;
    handle *h = args(env, info, 5, argv);
    engine_target target;
    uint32_t id, snd, playback = 0;
    unsigned flags = 0;
    int on;
    if (!h || get_target(env, argv[1], &target) ||
        get_uint(env, argv[2], "id", 0, UINT32_MAX, &id) ||
        get_uint(env, argv[3], "sound", 0, UINT32_MAX, &snd))
        return NULL;
    if (!is_undefined(env, argv[4])) {
        if (get_object(env, argv[4], "options") || get_prop(env, argv[4], "loop", &p)) return NULL;
        if (p) {
            if (get_bool(env, p, "options.loop", &on)) return NULL;
            if (on) flags |= ENGINE_PLAY_LOOP;
        }
        if (get_prop(env, argv[4], "replace", &p)) return NULL;
        if (p) {
            if (get_bool(env, p, "options.replace", &on)) return NULL;
            if (on) flags |= ENGINE_PLAY_REPLACE;
        }
    }
    int rc = engine_play(h->e, target, id, snd, flags, &playback);
    if (rc) return throw_engine(env, "engine_play", rc), NULL;
    CHECK(env, napi_create_uint32(env, playback, &out));
    return out;
}

/* stop(handle, target, id) */
static napi_value js_stop(napi_env env, napi_callback_info info) {
    napi_value argv[3];
    handle *h = args(env, info, 3, argv);
    engine_target target;
    uint32_t id;
    if (!h || get_target(env, argv[1], &target) || get_uint(env, argv[2], "id", 0, UINT32_MAX, &id))
        return NULL;
    int rc = engine_stop(h->e, target, id);
    if (rc) throw_engine(env, "engine_stop", rc);
    return NULL;
}

/* record(handle, conference, seconds): the conference's mix kept at 16 kHz for readRecording */
static napi_value js_record(napi_env env, napi_callback_info info) {
    napi_value argv[3];
    handle *h = args(env, info, 3, argv);
    uint32_t conf, seconds;
    if (!h || get_uint(env, argv[1], "conference", 0, UINT32_MAX, &conf) ||
        get_uint(env, argv[2], "seconds", 1, 60, &seconds))
        return NULL;
    int rc = engine_record(h->e, conf, seconds);
    if (rc) throw_engine(env, "engine_record", rc);
    return NULL;
}

/* readRecording(handle, conference) -> {pcm: Int16Array (16 kHz), dropped} */
static napi_value js_read_recording(napi_env env, napi_callback_info info) {
    napi_value argv[2], out, buffer, pcm;
    handle *h = args(env, info, 2, argv);
    uint32_t conf;
    if (!h || get_uint(env, argv[1], "conference", 0, UINT32_MAX, &conf)) return NULL;
    enum { MAX_READ = 16000 }; /* a second a call; the host calls again while it gets a full one */
    void *data = NULL;
    CHECK(env, napi_create_arraybuffer(env, MAX_READ * sizeof(int16_t), &data, &buffer));
    size_t got = 0;
    uint64_t dropped = 0;
    int rc = engine_read_recording(h->e, conf, data, MAX_READ, &got, &dropped);
    if (rc) return throw_engine(env, "engine_read_recording", rc), NULL;
    CHECK(env, napi_create_typedarray(env, napi_int16_array, got, buffer, 0, &pcm));
    CHECK(env, napi_create_object(env, &out));
    CHECK(env, napi_set_named_property(env, out, "pcm", pcm));
    if (set_num(env, out, "dropped", (double)dropped)) return throw_napi(env), NULL;
    return out;
}

/* recordStop(handle, conference) */
static napi_value js_record_stop(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    handle *h = args(env, info, 2, argv);
    uint32_t conf;
    if (!h || get_uint(env, argv[1], "conference", 0, UINT32_MAX, &conf)) return NULL;
    int rc = engine_record_stop(h->e, conf);
    if (rc) throw_engine(env, "engine_record_stop", rc);
    return NULL;
}

/* stats(handle) -> engine counters (tickMaxUs: longest tick of the last one to two seconds) */
static napi_value js_stats(napi_env env, napi_callback_info info) {
    napi_value argv[1], out;
    handle *h = args(env, info, 1, argv);
    if (!h) return NULL;
    engine_stats s;
    int rc = engine_get_stats(h->e, &s);
    if (rc) return throw_engine(env, "engine_get_stats", rc), NULL;
    CHECK(env, napi_create_object(env, &out));
    if (set_num(env, out, "legs", s.legs) || set_num(env, out, "conferences", s.conferences) ||
        set_num(env, out, "ticks", (double)s.ticks) ||
        set_num(env, out, "lateTicks", (double)s.late_ticks) ||
        set_num(env, out, "packetsIn", (double)s.packets_in) ||
        set_num(env, out, "packetsOut", (double)s.packets_out) ||
        set_num(env, out, "droppedMalformed", (double)s.dropped_malformed) ||
        set_num(env, out, "droppedForeign", (double)s.dropped_foreign) ||
        set_num(env, out, "droppedOther", (double)s.dropped_other) ||
        set_num(env, out, "droppedAuth", (double)s.dropped_auth) ||
        set_num(env, out, "eventsDropped", (double)s.events_dropped) ||
        set_num(env, out, "tickMaxUs", s.tick_max_us) ||
        set_num(env, out, "tickMaxEverUs", s.tick_max_ever_us) ||
        set_num(env, out, "threads", s.threads) ||
        set_num(env, out, "receiveCalls", (double)s.receive_calls) ||
        set_num(env, out, "sendCalls", (double)s.send_calls))
        return throw_napi(env), NULL;
    return out;
}

/* legStats(handle, leg) -> one leg's counters */
static napi_value js_leg_stats(napi_env env, napi_callback_info info) {
    napi_value argv[2], out;
    handle *h = args(env, info, 2, argv);
    uint32_t leg;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg)) return NULL;
    engine_leg_stats s;
    int rc = engine_get_leg_stats(h->e, leg, &s);
    if (rc) return throw_engine(env, "engine_get_leg_stats", rc), NULL;
    CHECK(env, napi_create_object(env, &out));
    if (set_num(env, out, "packetsIn", (double)s.packets_in) ||
        set_num(env, out, "packetsOut", (double)s.packets_out) ||
        set_num(env, out, "bytesIn", (double)s.bytes_in) ||
        set_num(env, out, "bytesOut", (double)s.bytes_out) ||
        set_num(env, out, "droppedMalformed", (double)s.dropped_malformed) ||
        set_num(env, out, "droppedForeign", (double)s.dropped_foreign) ||
        set_num(env, out, "droppedOther", (double)s.dropped_other) ||
        set_num(env, out, "droppedAuth", (double)s.dropped_auth) ||
        set_num(env, out, "relatches", s.relatches) || set_num(env, out, "lost", s.lost) ||
        set_num(env, out, "jitterMs", s.jitter_ms) || set_num(env, out, "bufferMs", s.buffer_ms) ||
        set_num(env, out, "targetMs", s.target_ms) || set_num(env, out, "concealed", s.concealed) ||
        set_num(env, out, "ssrcChanges", s.ssrc_changes) ||
        set_num(env, out, "remoteLost", s.remote_lost) ||
        set_num(env, out, "remoteJitterMs", s.remote_jitter_ms) ||
        set_num(env, out, "localPort", s.local_port) || set_num(env, out, "thread", s.thread))
        return throw_napi(env), NULL;
    return out;
}

/* srtpStatus() -> {available, version, reason}: whether legs can use SRTP (libsrtp2 loads) */
static napi_value js_srtp_status(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value out, b;
    const char *why = rtpsec_unavailable();
    CHECK(env, napi_create_object(env, &out));
    if (napi_get_boolean(env, why == NULL, &b) != napi_ok ||
        napi_set_named_property(env, out, "available", b) != napi_ok ||
        set_str(env, out, "version", rtpsec_version(), NAPI_AUTO_LENGTH) ||
        set_str(env, out, "reason", why ? why : "", NAPI_AUTO_LENGTH))
        return throw_napi(env), NULL;
    return out;
}

/* ---- local legs: the box's own microphone and speaker ---- */

static const char *local_state_name(int state) {
    switch (state) {
    case LOCAL_AUDIO_OK:
        return "ok";
    case LOCAL_AUDIO_UNAVAILABLE:
        return "unavailable";
    default:
        return "opening";
    }
}

/* openLocalLeg(handle, {capture?, playback?, retryMinMs?, retryMaxMs?}) -> leg */
static napi_value js_open_local_leg(napi_env env, napi_callback_info info) {
    napi_value argv[2], p, out;
    handle *h = args(env, info, 2, argv);
    if (!h || get_object(env, argv[1], "devices") != 0) return NULL;
    char capture[LOCAL_AUDIO_NAME] = "", playback[LOCAL_AUDIO_NAME] = "";
    local_audio_config c = {.capture = capture, .playback = playback};
    if (get_prop(env, argv[1], "capture", &p) != 0 ||
        (p && get_string(env, p, "devices.capture", capture, sizeof capture) != 0))
        return NULL;
    if (get_prop(env, argv[1], "playback", &p) != 0 ||
        (p && get_string(env, p, "devices.playback", playback, sizeof playback) != 0))
        return NULL;
    if (!capture[0] && !playback[0])
        return throw_type(env, "devices", "an object naming capture or playback"), NULL;
    if (get_prop(env, argv[1], "retryMinMs", &p) != 0 ||
        (p && get_uint(env, p, "devices.retryMinMs", 1, 3600000, &c.retry_min_ms) != 0))
        return NULL;
    if (get_prop(env, argv[1], "retryMaxMs", &p) != 0 ||
        (p && get_uint(env, p, "devices.retryMaxMs", 1, 3600000, &c.retry_max_ms) != 0))
        return NULL;
    /* echo: {tailMs, delayMs, noiseSuppressDb?} cancels the speaker's echo; absent: none */
    napi_value echo;
    echo_cancel_config ec = {.tail_ms = 100, .delay_ms = 30, .echo_suppress = -40};
    if (get_prop(env, argv[1], "echo", &echo) != 0) return NULL;
    if (echo) {
        unsigned noise = 0;
        if (get_prop(env, echo, "tailMs", &p) != 0 ||
            (p && get_uint(env, p, "devices.echo.tailMs", 20, 1000, &ec.tail_ms) != 0))
            return NULL;
        if (get_prop(env, echo, "delayMs", &p) != 0 ||
            (p && get_uint(env, p, "devices.echo.delayMs", 0, 1000, &ec.delay_ms) != 0))
            return NULL;
        if (get_prop(env, echo, "noiseSuppressDb", &p) != 0 ||
            (p && get_uint(env, p, "devices.echo.noiseSuppressDb", 0, 60, &noise) != 0))
            return NULL;
        ec.noise_suppress = -(int)noise;
    }
    uint32_t leg;
    int rc = engine_open_local_leg(h->e, &c, &leg);
    if (rc) return throw_engine(env, "engine_open_local_leg", rc), NULL;
    /* Without speexdsp the leg runs without cancelling (localStatus says why). */
    if (echo && (rc = engine_set_local_echo(h->e, leg, &ec)) != 0 && rc != -ENOSYS) {
        engine_close_leg(h->e, leg);
        return throw_engine(env, "engine_set_local_echo", rc), NULL;
    }
    CHECK(env, napi_create_uint32(env, leg, &out));
    return out;
}

/* localStatus(handle, leg) -> the local leg's device state and counters */
static napi_value js_local_status(napi_env env, napi_callback_info info) {
    napi_value argv[2], out;
    handle *h = args(env, info, 2, argv);
    uint32_t leg;
    if (!h || get_uint(env, argv[1], "leg", 0, UINT32_MAX, &leg)) return NULL;
    local_audio_status s;
    int rc = engine_get_local_status(h->e, leg, &s);
    if (rc) return throw_engine(env, "engine_get_local_status", rc), NULL;
    CHECK(env, napi_create_object(env, &out));
    if (set_str(env, out, "state", local_state_name(s.state), NAPI_AUTO_LENGTH) ||
        set_num(env, out, "error", s.error) ||
        set_str(env, out, "message", s.message, NAPI_AUTO_LENGTH) ||
        set_num(env, out, "attempts", s.attempts) ||
        set_num(env, out, "retryInMs", s.retry_in_ms) ||
        set_num(env, out, "captureChannels", s.capture_channels) ||
        set_num(env, out, "playbackChannels", s.playback_channels) ||
        set_num(env, out, "captured", (double)s.captured) ||
        set_num(env, out, "played", (double)s.played) ||
        set_num(env, out, "captureDropped", (double)s.capture_dropped) ||
        set_num(env, out, "playbackDropped", (double)s.playback_dropped) ||
        set_num(env, out, "xruns", (double)s.xruns))
        return throw_napi(env), NULL;
    const char *no_echo = echo_cancel_unavailable();
    napi_value active;
    CHECK(env, napi_get_boolean(env, engine_local_echo_active(h->e, leg) == 1, &active));
    CHECK(env, napi_set_named_property(env, out, "echoCancel", active));
    if (set_str(env, out, "echoUnavailable", no_echo ? no_echo : "", NAPI_AUTO_LENGTH))
        return throw_napi(env), NULL;
    return out;
}

/* alsaDevices() -> "NAME\tIOID\n" lines of the PCMs ALSA lists; throws with the reason when it
 * cannot (no libasound) */
static napi_value js_alsa_devices(napi_env env, napi_callback_info info) {
    (void)info;
    static char list[16384];
    char why[LOCAL_AUDIO_REASON] = "";
    int rc = local_audio_list_devices(list, sizeof list, why, sizeof why);
    if (rc < 0) {
        napi_throw_error(env, confbox_errno_name(-rc),
                         why[0] ? why : "ALSA cannot list its devices");
        return NULL;
    }
    napi_value out;
    CHECK(env, napi_create_string_utf8(env, list, NAPI_AUTO_LENGTH, &out));
    return out;
}

/* poll(handle) -> up to POLL_MAX events, oldest first; [] once destroyed */
static napi_value js_poll(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], out, ev;
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) napi_get_undefined(env, &argv[0]);
    handle *h = get_handle(env, argv[0], 1);
    if (!h) return NULL;
    engine_event evs[POLL_MAX];
    size_t n = h->e ? engine_poll_events(h->e, evs, POLL_MAX) : 0;
    CHECK(env, napi_create_array_with_length(env, n, &out));
    for (size_t i = 0; i < n; i++) {
        const engine_event *x = &evs[i];
        int bad = napi_create_object(env, &ev) != napi_ok;
        switch (x->type) {
        case ENGINE_EVENT_DTMF:
            bad = bad || set_str(env, ev, "type", "dtmf", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "leg", x->leg) || set_str(env, ev, "digit", &x->digit, 1);
            break;
        case ENGINE_EVENT_RTP_TIMEOUT:
            bad = bad || set_str(env, ev, "type", "rtpTimeout", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "leg", x->leg);
            break;
        case ENGINE_EVENT_PLAYED: /* leg ids are never 0: a generation is in their top half */
            bad = bad || set_str(env, ev, "type", "played", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "playback", x->playback) ||
                  set_str(env, ev, "target", x->leg ? "leg" : "conference", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "id", x->leg ? x->leg : x->conference);
            break;
        case ENGINE_EVENT_OVERRUN:
            bad = bad || set_str(env, ev, "type", "overrun", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "count", x->count);
            break;
        case ENGINE_EVENT_LOCAL:
            bad = bad || set_str(env, ev, "type", "local", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "leg", x->leg) ||
                  set_str(env, ev, "state", local_state_name((int)x->count), NAPI_AUTO_LENGTH);
            break;
        case ENGINE_EVENT_TALK:
            bad = bad || set_str(env, ev, "type", "talk", NAPI_AUTO_LENGTH) ||
                  set_num(env, ev, "leg", x->leg) ||
                  set_bool(env, ev, "talking", (x->count & TALK_TALKING) != 0) ||
                  set_bool(env, ev, "noisy", (x->count & TALK_NOISY) != 0);
            break;
        default:
            bad = bad || set_str(env, ev, "type", "unknown", NAPI_AUTO_LENGTH);
        }
        if (bad || napi_set_element(env, out, (uint32_t)i, ev) != napi_ok)
            return throw_napi(env), NULL;
    }
    return out;
}

NAPI_MODULE_INIT() {
    confbox_memory_init();
    static const struct {
        const char *name;
        napi_callback fn;
    } fns[] = {
        {"create", js_create},
        {"destroy", js_destroy},
        {"openLeg", js_open_leg},
        {"connectLeg", js_connect_leg},
        {"closeLeg", js_close_leg},
        {"join", js_join},
        {"leave", js_leave},
        {"setMuted", js_set_muted},
        {"addSound", js_add_sound},
        {"play", js_play},
        {"stop", js_stop},
        {"record", js_record},
        {"readRecording", js_read_recording},
        {"recordStop", js_record_stop},
        {"stats", js_stats},
        {"legStats", js_leg_stats},
        {"poll", js_poll},
        {"sdNotify", confbox_sd_notify},
        {"releaseMemory", confbox_release_memory},
        /* the local leg (the box's own sound card) */
        {"openLocalLeg", js_open_local_leg},
        {"localStatus", js_local_status},
        {"alsaDevices", js_alsa_devices},
        {"srtpStatus", js_srtp_status},
        /* the status LEDs on the kernel's GPIO character device */
        {"gpioRequest", confbox_gpio_request},
        {"gpioSet", confbox_gpio_set},
        {"gpioRelease", confbox_gpio_release},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        napi_value f;
        if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) !=
                napi_ok ||
            napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
            return NULL;
    }
    napi_value v;
    if (napi_create_uint32(env, POLL_MAX, &v) != napi_ok ||
        napi_set_named_property(env, exports, "POLL_MAX", v) != napi_ok)
        return NULL;
    return exports;
}
