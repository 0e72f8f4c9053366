/* SRTP and SRTCP (RFC 3711) for one direction of a leg, with keys exchanged by SDES (RFC 4568).
 *
 * libsrtp2 (libsrtp2.so.1) is loaded with dlopen on first use, so the engine builds with its
 * headers alone and runs without it: every function then fails with -ENOSYS and
 * rtpsec_unavailable() says why. Each rtpsec protects (outbound) or checks and decrypts
 * (inbound) every SSRC of its direction with one master key; the caller serialises calls on one
 * rtpsec. Functions returning int return 0 or a negative errno value. */
#ifndef CONFBOX_SRTP_H
#define CONFBOX_SRTP_H

#include <stddef.h>
#include <stdint.h>

/** Crypto suites (RFC 4568 section 6.2); SRTCP always carries an 80-bit tag. */
typedef enum {
    RTPSEC_NONE = 0,                    /**< plain RTP */
    RTPSEC_AES_CM_128_HMAC_SHA1_80 = 1, /**< 80-bit SRTP authentication tag */
    RTPSEC_AES_CM_128_HMAC_SHA1_32 = 2, /**< 32-bit SRTP authentication tag */
} rtpsec_suite;

/** Master key (16 octets) followed by master salt (14 octets), as in a=crypto's inline key. */
#define RTPSEC_KEY_LEN 30
/** Room a packet buffer needs beyond the plain packet for protection (SRTCP index and tags). */
#define RTPSEC_OVERHEAD 148

typedef struct rtpsec rtpsec;

/** Why SRTP cannot be used here (libsrtp2 missing or failing), or NULL when it can. Loads the
 *  library on its first call; safe from any thread. */
const char *rtpsec_unavailable(void);
/** libsrtp2's version string, or "" when it is unavailable. */
const char *rtpsec_version(void);

/** A context protecting (outbound != 0) or unprotecting packets with key. -EINVAL for an
 *  unknown suite, -ENOSYS without libsrtp2, -ENOMEM. */
int rtpsec_create(rtpsec_suite suite, const uint8_t key[RTPSEC_KEY_LEN], int outbound,
                  rtpsec **out);
void rtpsec_destroy(rtpsec *s);

/** Encrypts and authenticates an RTP packet of *len octets in place; the buffer holds cap octets
 *  (at least *len + RTPSEC_OVERHEAD). *len becomes the SRTP packet's length. */
int rtpsec_protect(rtpsec *s, uint8_t *pkt, size_t *len, size_t cap);
/** Checks and decrypts an SRTP packet in place; *len becomes the RTP packet's length.
 *  -EBADMSG: authentication failed; -EALREADY: a replay (index seen or too old);
 *  -EPROTO: not an SRTP packet that can be read. */
int rtpsec_unprotect(rtpsec *s, uint8_t *pkt, size_t *len);
/** The same for compound RTCP packets (SRTCP, encrypted with the E flag). */
int rtpsec_protect_rtcp(rtpsec *s, uint8_t *pkt, size_t *len, size_t cap);
int rtpsec_unprotect_rtcp(rtpsec *s, uint8_t *pkt, size_t *len);

#endif
