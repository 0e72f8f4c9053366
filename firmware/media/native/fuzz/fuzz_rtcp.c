/* Compound RTCP packets from the network: the parser, and a report built from what it read. */
#include "../src/rtp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rtcp_info info;
    int r = rtcp_parse(data, size, &info);
    if (r != RTP_OK) {
        FUZZ_ASSERT(r >= RTP_E_SPACE && r < 0);
        return 0;
    }
    FUZZ_ASSERT(info.n_blocks >= 0 && info.n_blocks <= RTCP_MAX_BLOCKS);
    FUZZ_ASSERT(info.n_packets >= 1 && (size_t)info.n_packets <= size / 4);
    for (int i = 0; i < info.n_blocks; i++)
        FUZZ_ASSERT(info.blocks[i].lost >= -0x800000 && info.blocks[i].lost <= 0x7FFFFF);

    /* a report answering it parses back as one packet set */
    rtp_rx_stats rx = {0};
    rtp_rx_init(&rx, info.ssrc, (uint16_t)info.packets);
    if (info.has_sr) {
        rx.last_sr = (uint32_t)(info.ntp >> 16);
        rx.last_sr_us = 1;
    }
    rtcp_sender_info sender = {info.ntp, info.rtp_ts, info.packets, info.octets};
    uint8_t report[512];
    size_t n = rtcp_build_report(report, sizeof report, info.ssrc ^ 1, info.has_sr ? &sender : NULL,
                                 &rx, 1000000, "confbox@fuzz");
    FUZZ_ASSERT(n > 0);
    rtcp_info back;
    FUZZ_ASSERT(rtcp_parse(report, n, &back) == RTP_OK);
    FUZZ_ASSERT(back.ssrc == (info.ssrc ^ 1) && back.has_sr == info.has_sr && back.n_blocks == 1);
    return 0;
}
