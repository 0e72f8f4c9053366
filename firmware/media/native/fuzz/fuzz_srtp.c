/* SRTP and SRTCP packets from the network, checked and decrypted by libsrtp2 through the engine's
 * wrapper: arbitrary octets are refused with one of the wrapper's errors, and a packet the box
 * protected comes back as the same RTP packet. */
#include "../src/rtp.h"
#include "../src/srtp.h"
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#define CAP 2048

static rtpsec *rx, *tx;
static const uint8_t key[RTPSEC_KEY_LEN] = "confbox fuzz master key+salt!";

static int refused(int r) {
    return r == -EBADMSG || r == -EALREADY || r == -EPROTO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t pkt[CAP + RTPSEC_OVERHEAD], plain[CAP];
    if (!rx) {
        FUZZ_ASSERT(rtpsec_unavailable() == NULL);
        FUZZ_ASSERT(rtpsec_create(RTPSEC_AES_CM_128_HMAC_SHA1_80, key, 0, &rx) == 0);
        FUZZ_ASSERT(rtpsec_create(RTPSEC_AES_CM_128_HMAC_SHA1_80, key, 1, &tx) == 0);
    }
    if (size > CAP) size = CAP;

    /* arbitrary octets as SRTP and as SRTCP */
    size_t len = size;
    memcpy(pkt, data, size);
    int r = rtpsec_unprotect(rx, pkt, &len);
    FUZZ_ASSERT(r == 0 || refused(r));
    FUZZ_ASSERT(len <= size);
    len = size;
    memcpy(pkt, data, size);
    r = rtpsec_unprotect_rtcp(rx, pkt, &len);
    FUZZ_ASSERT(r == 0 || refused(r));
    FUZZ_ASSERT(len <= size);

    /* the octets as the payload of an RTP packet the box sends: protected, then read back whole */
    static uint16_t seq;
    seq++;
    rtp_header h = {
        .version = 2, .payload_type = 0, .seq = seq, .timestamp = seq * 160u, .ssrc = 0xC0F0B0E0u};
    size_t n = rtp_write_header(plain, sizeof plain, &h);
    if (size > CAP - n) size = CAP - n;
    memcpy(plain + n, data, size);
    memcpy(pkt, plain, n + size);
    len = n + size;
    FUZZ_ASSERT(rtpsec_protect(tx, pkt, &len, sizeof pkt) == 0);
    FUZZ_ASSERT(rtpsec_unprotect(rx, pkt, &len) == 0);
    FUZZ_ASSERT(len == n + size && memcmp(pkt, plain, len) == 0);
    return 0;
}
