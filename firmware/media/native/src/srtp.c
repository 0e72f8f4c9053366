/* SRTP through libsrtp2, loaded at run time. */
#define _GNU_SOURCE
#include "srtp.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- libsrtp2, resolved at run time ---- */

#define SRTP_FUNCTIONS(X)                                                                          \
    X(srtp_init)                                                                                   \
    X(srtp_create)                                                                                 \
    X(srtp_dealloc)                                                                                \
    X(srtp_protect)                                                                                \
    X(srtp_unprotect)                                                                              \
    X(srtp_protect_rtcp)                                                                           \
    X(srtp_unprotect_rtcp)                                                                         \
    X(srtp_crypto_policy_set_rtp_default) /* AES_CM_128_HMAC_SHA1_80 */                            \
    X(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32)                                              \
    X(srtp_get_version_string)

static struct {
#define X(f) __typeof__(f) *f;
    SRTP_FUNCTIONS(X)
#undef X
} lib;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static char lib_missing[200]; /* why libsrtp2 cannot be used; "" when it can */

static void lib_load(void) {
    void *h = dlopen("libsrtp2.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lib_missing, sizeof lib_missing,
                 "libsrtp2.so.1 cannot be loaded (%s); install libsrtp2-1", dlerror());
        return;
    }
#define X(f)                                                                                       \
    if (!(lib.f = (__typeof__(f) *)dlsym(h, #f))) {                                                \
        snprintf(lib_missing, sizeof lib_missing, "libsrtp2.so.1 lacks %s", #f);                   \
        return;                                                                                    \
    }
    SRTP_FUNCTIONS(X)
#undef X
    srtp_err_status_t st = lib.srtp_init();
    if (st != srtp_err_status_ok)
        snprintf(lib_missing, sizeof lib_missing, "libsrtp2 failed to start (error %d)", (int)st);
}

const char *rtpsec_unavailable(void) {
    pthread_once(&lib_once, lib_load);
    return lib_missing[0] ? lib_missing : NULL;
}

const char *rtpsec_version(void) {
    return rtpsec_unavailable() ? "" : lib.srtp_get_version_string();
}

/* ---- contexts ---- */

struct rtpsec {
    srtp_t session;
};

int rtpsec_create(rtpsec_suite suite, const uint8_t key[RTPSEC_KEY_LEN], int outbound,
                  rtpsec **out) {
    if (suite != RTPSEC_AES_CM_128_HMAC_SHA1_80 && suite != RTPSEC_AES_CM_128_HMAC_SHA1_32)
        return -EINVAL;
    if (rtpsec_unavailable()) return -ENOSYS;
    rtpsec *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    unsigned char master[SRTP_MAX_KEY_LEN] = {0};
    memcpy(master, key, RTPSEC_KEY_LEN);
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (suite == RTPSEC_AES_CM_128_HMAC_SHA1_80)
        lib.srtp_crypto_policy_set_rtp_default(&p.rtp);
    else
        lib.srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
    /* RFC 4568 section 6.2: SRTCP keeps the 80-bit tag with either suite */
    lib.srtp_crypto_policy_set_rtp_default(&p.rtcp);
    p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    p.key = master;
    p.window_size = 128;
    srtp_err_status_t st = lib.srtp_create(&s->session, &p);
    memset(master, 0, sizeof master);
    if (st != srtp_err_status_ok) {
        free(s);
        return st == srtp_err_status_alloc_fail ? -ENOMEM : -EINVAL;
    }
    *out = s;
    return 0;
}

void rtpsec_destroy(rtpsec *s) {
    if (!s) return;
    lib.srtp_dealloc(s->session);
    free(s);
}

static int status_errno(srtp_err_status_t st) {
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
        return -EBADMSG;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
        return -EALREADY;
    case srtp_err_status_alloc_fail:
        return -ENOMEM;
    default:
        return -EPROTO;
    }
}

typedef srtp_err_status_t (*transform)(srtp_t, void *, int *);

static int run(rtpsec *s, transform f, uint8_t *pkt, size_t *len, size_t room) {
    if (*len > INT_MAX / 2 || room < *len + RTPSEC_OVERHEAD) return -ENOSPC;
    int n = (int)*len;
    int rc = status_errno(f(s->session, pkt, &n));
    if (rc == 0) *len = (size_t)n;
    return rc;
}

int rtpsec_protect(rtpsec *s, uint8_t *pkt, size_t *len, size_t cap) {
    return run(s, lib.srtp_protect, pkt, len, cap);
}

int rtpsec_protect_rtcp(rtpsec *s, uint8_t *pkt, size_t *len, size_t cap) {
    return run(s, lib.srtp_protect_rtcp, pkt, len, cap);
}

/* Unprotecting only shortens the packet: no room is needed beyond it. */
int rtpsec_unprotect(rtpsec *s, uint8_t *pkt, size_t *len) {
    return run(s, lib.srtp_unprotect, pkt, len, *len + RTPSEC_OVERHEAD);
}

int rtpsec_unprotect_rtcp(rtpsec *s, uint8_t *pkt, size_t *len) {
    return run(s, lib.srtp_unprotect_rtcp, pkt, len, *len + RTPSEC_OVERHEAD);
}
