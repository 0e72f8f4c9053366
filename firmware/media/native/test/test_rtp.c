/* RTP/RTCP parsing against malformed packets, third-party fuzz corpora and random mutations. */
#define _POSIX_C_SOURCE 200809L
#include "../src/rtp.h"
#include "check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Parses a copy of exactly len bytes so the sanitizer catches any read past the end. */
static void parse_all(const uint8_t *data, size_t len, int *rtp_ok, int *rtcp_ok) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    rtp_header h;
    rtcp_info info;
    rtp_telephone_event ev;
    if (rtp_parse(copy, len, &h) == RTP_OK) {
        (*rtp_ok)++;
        if (h.payload_len > 0 && h.payload + h.payload_len > copy + len) abort();
        rtp_parse_telephone_event(h.payload, h.payload_len, &ev);
    }
    if (rtcp_parse(copy, len, &info) == RTP_OK) (*rtcp_ok)++;
    rtp_is_rtcp(copy, len);
    free(copy);
}

static int files, corpus_rtp_ok, corpus_rtcp_ok;

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path);
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > (2 << 20)) continue;
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        parse_all(buf, n, &corpus_rtp_ok, &corpus_rtcp_ok);
        /* every prefix too: truncation is the commonest malformation */
        int dummy1 = 0, dummy2 = 0;
        for (size_t k = 0; k < n && k < 256; k++) parse_all(buf, k, &dummy1, &dummy2);
        free(buf);
        files++;
    }
    closedir(d);
}

static size_t make_packet(uint8_t *p) {
    static const uint8_t pkt[] = {0x90, 0x80 | 8, 0x12, 0x34, 0,    0,    0x03, 0x20,
                                  0xde, 0xad,     0xbe, 0xef, 0xbe, 0xde, 0x00, 0x01,
                                  0x11, 0x22,     0x33, 0x44, 1,    2,    3,    4};
    memcpy(p, pkt, sizeof pkt);
    return sizeof pkt;
}

int main(int argc, char **argv) {
    uint8_t p[1500];
    rtp_header h;
    size_t n = make_packet(p);
    check(rtp_parse(p, n, &h) == RTP_OK && h.payload_type == 8 && h.marker && h.seq == 0x1234 &&
              h.timestamp == 800 && h.ssrc == 0xdeadbeef && h.ext_profile == 0xbede &&
              h.ext_len == 4 && h.payload_len == 4 && h.payload[0] == 1,
          "valid packet with extension parses");
    int all_short = 1;
    for (size_t k = 0; k < 12; k++) all_short &= rtp_parse(p, k, &h) == RTP_E_SHORT;
    check(all_short, "truncated fixed header is refused");
    check(rtp_parse(p, 14, &h) == RTP_E_EXTENSION, "truncated extension header is refused");
    check(rtp_parse(p, 19, &h) == RTP_E_EXTENSION, "extension longer than the packet is refused");
    p[0] = 0x50;
    check(rtp_parse(p, n, &h) == RTP_E_VERSION, "version 1 is refused");
    p[0] = 0x8F; /* 15 CSRCs = 60 bytes, packet has 24 */
    check(rtp_parse(p, n, &h) == RTP_E_CSRC, "CSRC count past the end is refused");
    p[0] = 0x81;
    check(rtp_parse(p, n, &h) == RTP_OK && h.csrc_count == 1 && h.csrc[0] == 0xbede0001 &&
              h.payload_len == 8,
          "one CSRC is read");
    n = make_packet(p);
    p[0] |= 0x20;
    p[n - 1] = 5; /* payload is 4 bytes */
    check(rtp_parse(p, n, &h) == RTP_E_PADDING, "padding larger than the payload is refused");
    p[n - 1] = 0;
    check(rtp_parse(p, n, &h) == RTP_E_PADDING, "padding count of zero is refused");
    p[n - 1] = 4;
    check(rtp_parse(p, n, &h) == RTP_OK && h.payload_len == 0,
          "padding of the whole payload is allowed");
    p[n - 1] = 2;
    check(rtp_parse(p, n, &h) == RTP_OK && h.payload_len == 2,
          "padding is removed from the payload");
    p[0] = 0xA0; /* padding, no extension: header only plus pad byte count 13 */
    p[12] = 13;
    check(rtp_parse(p, 13, &h) == RTP_E_PADDING, "padding reaching into the header is refused");

    rtp_header w = {0};
    w.payload_type = 0;
    w.marker = 1;
    w.seq = 65535;
    w.timestamp = 0xfffffff0u;
    w.ssrc = 42;
    uint8_t out[64];
    size_t wl = rtp_write_header(out, sizeof out, &w);
    check(wl == 12 && rtp_parse(out, wl, &h) == RTP_OK && h.seq == 65535 &&
              h.timestamp == 0xfffffff0u && h.ssrc == 42 && h.marker && h.payload_len == 0,
          "written header parses back");
    check(rtp_write_header(out, 11, &w) == 0, "header writer respects capacity");
    check(!rtp_is_rtcp(out, wl), "RTP is not taken for RTCP");

    /* RFC 4733: one digit per key press, whatever the number of packets. */
    rtp_dtmf_state ds;
    rtp_dtmf_reset(&ds);
    uint8_t ev5[4] = {5, 10, 0, 160}, ev5e[4] = {5, 0x80 | 10, 3, 0x20};
    rtp_telephone_event ev;
    check(rtp_parse_telephone_event(ev5, 3, &ev) == RTP_E_SHORT, "short telephone-event refused");
    rtp_parse_telephone_event(ev5, 4, &ev);
    check(ev.event == 5 && !ev.end && ev.volume == 10 && ev.duration == 160,
          "telephone-event fields");
    int digits = 0;
    char last = 0;
    for (int k = 0; k < 5; k++) {
        char c = rtp_dtmf_feed(&ds, 7, 1000, &ev);
        if (c) digits++, last = c;
    }
    rtp_parse_telephone_event(ev5e, 4, &ev);
    check(ev.end && ev.duration == 800, "end bit and duration");
    for (int k = 0; k < 3; k++) /* the end packet is sent three times */
        if (rtp_dtmf_feed(&ds, 7, 1000, &ev)) digits++;
    check(digits == 1 && last == '5', "start, updates and 3 end packets give one digit");
    check(rtp_dtmf_feed(&ds, 7, 2000, &ev) == '5',
          "same key pressed again (new timestamp) is a new digit");
    ev.event = 10;
    check(rtp_dtmf_feed(&ds, 7, 3000, &ev) == '*' && rtp_event_digit(11) == '#' &&
              rtp_event_digit(16) == 0,
          "* and # map; non-key events do not");
    ev.event = 1;
    check(rtp_dtmf_feed(&ds, 7, 3400, &ev) == '1' && rtp_dtmf_feed(&ds, 7, 3400, &ev) == 0,
          "lost start packet: first end packet reports it once");

    /* Receive statistics: wrap, loss, jitter. */
    rtp_rx_stats rx;
    rtp_rx_init(&rx, 99, 65530);
    rtp_rx_update(&rx, 65530, 0, 1000);
    for (uint32_t k = 1; k < 20; k++)
        if (k != 10) rtp_rx_update(&rx, (uint16_t)(65530 + k), k * 160, 1000 + k * 160);
    check(rtp_rx_extended_max(&rx) == 65536 + 13 && rtp_rx_lost(&rx) == 1,
          "sequence wrap extends the counter; one loss counted (lost %d)", rtp_rx_lost(&rx));
    check(rtp_rx_jitter(&rx) == 0, "constant transit gives zero jitter");
    for (uint32_t k = 20; k < 400; k++)
        rtp_rx_update(&rx, (uint16_t)(65530 + k), k * 160, 1000 + k * 160 + (k % 2) * 80);
    check(rtp_rx_jitter(&rx) > 70 && rtp_rx_jitter(&rx) < 90,
          "alternating 80-unit delay converges near 80 (RFC 3550 A.8): %u", rtp_rx_jitter(&rx));
    check(rtp_rx_update(&rx, 30000, 0, 0) == 0 && rtp_rx_update(&rx, 30001, 160, 160) == 1 &&
              rx.base_seq == 30001,
          "a big jump is believed only when the next packet follows it");

    /* RTCP build and parse. */
    uint8_t rb[256];
    rtcp_sender_info si = {0x0102030405060708ull, 4242, 10, 1600};
    rtp_rx_init(&rx, 77, 100);
    for (uint32_t k = 0; k < 10; k++)
        if (k != 3 && k != 4) rtp_rx_update(&rx, (uint16_t)(100 + k), k * 160, k * 160);
    rx.last_sr = 0xAABBCCDD;
    rx.last_sr_us = 1000000;
    size_t rl = rtcp_build_report(rb, sizeof rb, 1234, &si, &rx, 1500000, "confbox@test");
    rtcp_info info;
    check(rl > 0 && rl % 4 == 0 && rtp_is_rtcp(rb, rl), "SR built (%zu bytes)", rl);
    check(rtcp_parse(rb, rl, &info) == RTP_OK && info.has_sr && info.ssrc == 1234 &&
              info.ntp == si.ntp && info.rtp_ts == 4242 && info.packets == 10 &&
              info.n_packets == 2 && info.n_blocks == 1,
          "SR parses back with its SDES");
    check(info.blocks[0].ssrc == 77 && info.blocks[0].lost == 2 &&
              info.blocks[0].fraction_lost == 2 * 256 / 10 && info.blocks[0].highest_seq == 109 &&
              info.blocks[0].lsr == 0xAABBCCDD && info.blocks[0].dlsr == 32768,
          "report block: loss 2 (fraction %u), highest 109, DLSR 0.5 s",
          info.blocks[0].fraction_lost);
    rl = rtcp_build_report(rb, sizeof rb, 1234, NULL, NULL, 0, "x");
    check(rl > 0 && rtcp_parse(rb, rl, &info) == RTP_OK && !info.has_sr && info.n_blocks == 0,
          "empty RR builds and parses");
    check(rtcp_build_report(rb, 10, 1, &si, &rx, 0, "x") == 0, "report builder respects capacity");
    rl = rtcp_build_report(rb, sizeof rb, 1234, &si, &rx, 1500000, "c");
    size_t first = 4 * ((size_t)(rb[2] << 8 | rb[3]) + 1); /* a valid compound may end there */
    int bad_len = 1;
    for (size_t k = 0; k < rl; k++) bad_len &= (k == first) == (rtcp_parse(rb, k, &info) == RTP_OK);
    check(bad_len, "every truncation of a compound RTCP packet except at a packet end is refused");
    rb[first + 3] += 1; /* the last packet claims one word more than the datagram has */
    check(rtcp_parse(rb, rl, &info) == RTP_E_LENGTH, "length field past the datagram is refused");
    rb[first + 3] -= 1;
    rb[0] |= 0x20; /* padding on the first of two packets */
    check(rtcp_parse(rb, rl, &info) == RTP_E_PADDING, "padding before the last packet is refused");
    rb[0] = (uint8_t)((rb[0] & 0x1F) | 0x40);
    check(rtcp_parse(rb, rl, &info) == RTP_E_VERSION, "RTCP version 1 is refused");
    uint8_t rr_bad[8] = {0x81, 201, 0, 1, 0, 0, 0, 1}; /* RR claiming a block it lacks */
    check(rtcp_parse(rr_bad, 8, &info) == RTP_E_LENGTH,
          "report count larger than the packet is refused");

    /* Third-party corpora: no crash, no read past the end (checked by the sanitizer build). */
    const char *corpus =
        argc > 1 ? argv[1] : "../../../../shared/conformance/sdp-rtp/janus-fuzzer-corpora";
    struct stat st;
    if (stat(corpus, &st) == 0 && S_ISDIR(st.st_mode)) {
        walk(corpus);
        check(files > 100,
              "janus fuzzer corpora fed to the parsers: %d files, %d valid RTP, %d valid RTCP",
              files, corpus_rtp_ok, corpus_rtcp_ok);
        char seed[4200];
        snprintf(seed, sizeof seed, "%s/fuzzers/corpora/rtp_fuzzer/1meetecho/rtp_0_audio-with-ext",
                 corpus);
        FILE *f = fopen(seed, "rb");
        if (f) {
            uint8_t sb[2048];
            size_t sl = fread(sb, 1, sizeof sb, f);
            fclose(f);
            check(rtp_parse(sb, sl, &h) == RTP_OK && h.extension, "the valid audio seed parses");
        }
    } else {
        check_skip("the fuzzer corpora: not found at %s", corpus);
    }

    /* Random mutations of valid packets. */
    uint32_t seed = 1;
    int fuzz_rtp = 0, fuzz_rtcp = 0;
    for (int it = 0; it < 200000; it++) {
        uint8_t buf[300];
        size_t len;
        if (it % 2) {
            len = make_packet(buf);
        } else {
            len = rtcp_build_report(buf, sizeof buf, 5, it % 4 ? &si : NULL, &rx, 0, "fuzz");
        }
        for (int m = 0; m < 4; m++) {
            seed = seed * 1664525u + 1013904223u;
            buf[(seed >> 8) % len] ^= (uint8_t)(seed >> 24);
        }
        seed = seed * 1664525u + 1013904223u;
        len -= (seed >> 10) % (len + 1) / 3;
        parse_all(buf, len, &fuzz_rtp, &fuzz_rtcp);
    }
    check(1, "200000 mutated packets parsed without a crash (%d RTP, %d RTCP still valid)",
          fuzz_rtp, fuzz_rtcp);
    return check_done();
}
