/* RTP packets from the network: the parser, its round trip, RFC 4733 telephone events and the
 * receive statistics a packet updates. */
#include "../src/rtp.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)rtp_is_rtcp(data, size);
    rtp_header h;
    int r = rtp_parse(data, size, &h);
    if (r != RTP_OK) {
        FUZZ_ASSERT(r >= RTP_E_SPACE && r < 0);
        return 0;
    }
    FUZZ_ASSERT(h.version == 2 && h.csrc_count <= 15 && h.payload_type <= 127);
    FUZZ_ASSERT(h.payload >= data && h.payload + h.payload_len <= data + size);
    if (h.ext) FUZZ_ASSERT(h.ext >= data && h.ext + h.ext_len <= data + size);

    /* parse -> write -> parse: the fields the box reads come back the same */
    static uint8_t again[12 + 60 + 65536];
    size_t n = rtp_write_header(again, sizeof again, &h);
    FUZZ_ASSERT(n == 12 + 4u * h.csrc_count);
    memcpy(again + n, h.payload, h.payload_len);
    rtp_header h2;
    FUZZ_ASSERT(rtp_parse(again, n + h.payload_len, &h2) == RTP_OK);
    FUZZ_ASSERT(h2.seq == h.seq && h2.timestamp == h.timestamp && h2.ssrc == h.ssrc &&
                h2.marker == h.marker && h2.payload_type == h.payload_type &&
                h2.csrc_count == h.csrc_count && h2.payload_len == h.payload_len);
    FUZZ_ASSERT(memcmp(h2.csrc, h.csrc, h.csrc_count * sizeof h.csrc[0]) == 0);

    /* the payload read as a telephone event: a digit is a key or nothing */
    rtp_telephone_event ev;
    if (rtp_parse_telephone_event(h.payload, h.payload_len, &ev) == RTP_OK) {
        static rtp_dtmf_state keys;
        char digit = rtp_dtmf_feed(&keys, h.ssrc, h.timestamp, &ev);
        FUZZ_ASSERT(digit == 0 || (digit && strchr("0123456789*#ABCD", digit)));
        FUZZ_ASSERT(ev.volume <= 63 && ev.end <= 1);
    }

    /* the packet as one of a stream whose statistics it updates */
    static rtp_rx_stats rx;
    if (!rx.initialized || rx.ssrc != h.ssrc) rtp_rx_init(&rx, h.ssrc, h.seq);
    (void)rtp_rx_update(&rx, h.seq, h.timestamp, h.timestamp ^ h.ssrc);
    FUZZ_ASSERT(rtp_rx_lost(&rx) <= 0x7FFFFF && rtp_rx_lost(&rx) >= -0x800000);
    return 0;
}
