/* SRTP (libsrtp2 through src/srtp.h): protect/unprotect round trips of RTP and RTCP with both
 * suites, wrong keys, tampering and replays; then two SRTP legs of the engine in a conference on
 * loopback, each phone hearing the other through SRTP while plain and wrongly keyed packets are
 * dropped and counted; then strict RTP: re-latching only after the locked source fell silent,
 * and no sending to a peer that never sent RTP. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/rtp.h"
#include "../src/srtp.h"
#include "check.h"
#include "loopback.h"
#include "tone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *suite_name(rtpsec_suite s) {
    return s == RTPSEC_AES_CM_128_HMAC_SHA1_80 ? "AES_CM_128_HMAC_SHA1_80"
                                               : "AES_CM_128_HMAC_SHA1_32";
}

static void fill_key(uint8_t *key, uint8_t seed) {
    for (int i = 0; i < RTPSEC_KEY_LEN; i++) key[i] = (uint8_t)(seed * 31 + i * 7);
}

/* A 20 ms PCMU packet of a 1 kHz tone. */
static size_t plain_packet(uint8_t *pkt, size_t cap, uint16_t seq, uint32_t ssrc) {
    rtp_header h = {0};
    h.seq = seq;
    h.timestamp = seq * 160u;
    h.ssrc = ssrc;
    size_t hl = rtp_write_header(pkt, cap, &h);
    int16_t pcm[160];
    tone_fill(pcm, 160, 1000, 8000, 8000, seq * 160u);
    g711_ulaw_encode_buf(pcm, 160, pkt + hl);
    return hl + 160;
}

static void test_round_trip(rtpsec_suite suite) {
    const char *name = suite_name(suite);
    uint8_t key[RTPSEC_KEY_LEN], other[RTPSEC_KEY_LEN];
    fill_key(key, 1);
    fill_key(other, 2);
    rtpsec *tx = NULL, *rx = NULL, *wrong = NULL;
    int rc = rtpsec_create(suite, key, 1, &tx);
    rc |= rtpsec_create(suite, key, 0, &rx);
    rc |= rtpsec_create(suite, other, 0, &wrong);
    if (!check(rc == 0, "%s: contexts made", name)) return;

    size_t tag = suite == RTPSEC_AES_CM_128_HMAC_SHA1_80 ? 10 : 4;
    int all = 1, sizes = 1, hidden = 1, refused = 1;
    for (uint16_t seq = 65530; seq != 10; seq++) { /* across a sequence wrap */
        _Alignas(8) uint8_t plain[256], pkt[256 + RTPSEC_OVERHEAD];
        size_t n = plain_packet(plain, sizeof plain, seq, 0xCAFE), len = n;
        memcpy(pkt, plain, n);
        rc = rtpsec_protect(tx, pkt, &len, sizeof pkt);
        sizes &= rc == 0 && len == n + tag;
        hidden &= memcmp(pkt, plain, 12) == 0 && memcmp(pkt + 12, plain + 12, 160) != 0;
        _Alignas(8) uint8_t copy[256 + RTPSEC_OVERHEAD];
        memcpy(copy, pkt, len);
        size_t clen = len;
        refused &= rtpsec_unprotect(wrong, copy, &clen) == -EBADMSG;
        size_t rlen = len;
        all &= rtpsec_unprotect(rx, pkt, &rlen) == 0 && rlen == n && memcmp(pkt, plain, n) == 0;
    }
    check(sizes, "%s: an SRTP packet is the RTP packet plus a %zu-octet tag", name, tag);
    check(hidden, "%s: the header stays readable, the payload is encrypted", name);
    check(all, "%s: every packet unprotects to the original, across a sequence wrap", name);
    check(refused, "%s: a context with another key refuses every packet (auth)", name);

    _Alignas(8) uint8_t plain[256], pkt[256 + RTPSEC_OVERHEAD];
    size_t n = plain_packet(plain, sizeof plain, 100, 0xCAFE), len = n;
    memcpy(pkt, plain, n);
    rtpsec_protect(tx, pkt, &len, sizeof pkt);
    _Alignas(8) uint8_t keep[256 + RTPSEC_OVERHEAD];
    memcpy(keep, pkt, len);
    size_t klen = len, rlen = len;
    check(rtpsec_unprotect(rx, pkt, &rlen) == 0, "%s: a fresh packet passes", name);
    check(rtpsec_unprotect(rx, keep, &klen) == -EALREADY, "%s: its replay is refused", name);
    memcpy(pkt, plain, n);
    len = n;
    pkt[3] = 101; /* seq 101 */
    rtpsec_protect(tx, pkt, &len, sizeof pkt);
    pkt[40] ^= 1;
    rlen = len;
    check(rtpsec_unprotect(rx, pkt, &rlen) == -EBADMSG, "%s: a flipped payload bit fails auth",
          name);
    rlen = plain_packet(pkt, sizeof pkt, 102, 0xCAFE);
    check(rtpsec_unprotect(rx, pkt, &rlen) == -EBADMSG, "%s: a plain RTP packet fails auth", name);
    rlen = 8;
    check(rtpsec_unprotect(rx, pkt, &rlen) == -EPROTO, "%s: 8 octets are not SRTP", name);
    len = n;
    check(rtpsec_protect(tx, pkt, &len, n + 4) == -ENOSPC, "%s: protect wants room for the tag",
          name);

    /* SRTCP: an RR with SDES, encrypted with the E flag and an 80-bit tag for both suites */
    _Alignas(8) uint8_t rtcp[256 + RTPSEC_OVERHEAD], rplain[256];
    rtp_rx_stats rs = {0};
    size_t rn = rtcp_build_report(rplain, 256, 0xCAFE, NULL, &rs, 0, "confbox");
    memcpy(rtcp, rplain, rn);
    len = rn;
    rc = rtpsec_protect_rtcp(tx, rtcp, &len, sizeof rtcp);
    check(rc == 0 && len == rn + 4 + 10 && (rtcp[rn] & 0x80),
          "%s: SRTCP adds the E flag and index and an 80-bit tag (%zu -> %zu)", name, rn, len);
    memcpy(keep, rtcp, len);
    klen = len;
    rlen = len;
    check(rtpsec_unprotect_rtcp(rx, rtcp, &rlen) == 0 && rlen == rn && !memcmp(rtcp, rplain, rn),
          "%s: SRTCP unprotects to the original", name);
    check(rtpsec_unprotect_rtcp(wrong, keep, &klen) == -EBADMSG,
          "%s: SRTCP with another key fails auth", name);
    rtpsec_destroy(tx);
    rtpsec_destroy(rx);
    rtpsec_destroy(wrong);
}

/* ---- the engine over loopback ---- */

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg;
    double freq;
    uint16_t seq;
    uint32_t ssrc;
    rtpsec *tx, *rx; /* the phone's side: NULL for plain RTP */
    int16_t rx_pcm[8000 * 3];
    size_t rx_n;
    unsigned packets, undecryptable, plain_tone;
} phone;

static void phone_send(phone *p, size_t tick) {
    _Alignas(8) uint8_t pkt[12 + 160 + RTPSEC_OVERHEAD];
    rtp_header h = {0};
    h.seq = p->seq++;
    h.timestamp = (uint32_t)tick * 160u;
    h.ssrc = p->ssrc;
    rtp_write_header(pkt, sizeof pkt, &h);
    int16_t pcm[160];
    tone_fill(pcm, 160, p->freq, 8000, 8000, tick * 160);
    g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    size_t n = 12 + 160;
    if (p->tx) rtpsec_protect(p->tx, pkt, &n, sizeof pkt);
    send_to(p->fd, p->engine_port, pkt, n);
}

/* Receives what the engine sent: counts packets that were not SRTP with the phone's key and
 * keeps the decoded audio. */
static void phone_receive(phone *p) {
    _Alignas(8) uint8_t buf[2048];
    ssize_t got;
    while ((got = recv(p->fd, buf, sizeof buf, 0)) > 0) {
        size_t n = (size_t)got;
        p->packets++;
        if (p->rx && rtpsec_unprotect(p->rx, buf, &n) != 0) {
            p->undecryptable++;
            continue;
        }
        rtp_header h;
        if (rtp_parse(buf, n, &h) != RTP_OK || h.payload_len != 160) continue;
        if (p->rx_n + 160 > sizeof p->rx_pcm / sizeof p->rx_pcm[0]) p->rx_n = 0;
        g711_ulaw_decode_buf(h.payload, 160, p->rx_pcm + p->rx_n);
        p->rx_n += 160;
    }
}

static void run(phone *ph, int n, size_t *tick, size_t ticks) {
    for (size_t k = 0; k < ticks; k++, (*tick)++) {
        for (int i = 0; i < n; i++) phone_send(&ph[i], *tick);
        sleep_ms(20);
        for (int i = 0; i < n; i++) phone_receive(&ph[i]);
    }
}

static double level_db(const phone *p, double f) {
    size_t n = 4000;
    if (p->rx_n < n) return -200;
    double pw = goertzel(p->rx_pcm + p->rx_n - n, n, f, 8000);
    return 10 * log10(pw / (8000.0 * 8000 / 4) + 1e-20);
}

static void test_engine_srtp(rtpsec_suite suite) {
    const char *name = suite_name(suite);
    engine_config cfg = {.bind_address = "127.0.0.1", .port_min = 32000, .port_max = 32099};
    engine *e = NULL;
    if (!check(engine_create(&cfg, &e) == 0, "%s: engine starts", name)) return;
    phone ph[2];
    memset(ph, 0, sizeof ph);
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        phone *p = &ph[i];
        p->freq = i ? 1300 : 500;
        p->ssrc = 0x5000u + (uint32_t)i;
        p->fd = udp_socket(&p->port);
        engine_leg_options o = {
            .codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 20, .srtp = suite};
        fill_key(o.srtp_tx_key, (uint8_t)(10 + i)); /* the box's key */
        fill_key(o.srtp_rx_key, (uint8_t)(20 + i)); /* the phone's key */
        ok &= rtpsec_create(suite, o.srtp_rx_key, 1, &p->tx) == 0;
        ok &= rtpsec_create(suite, o.srtp_tx_key, 0, &p->rx) == 0;
        ok &= engine_open_leg(e, &o, &p->leg, &p->engine_port) == 0;
        ok &= engine_connect_leg(e, p->leg, "127.0.0.1", p->port, &o) == 0;
        ok &= engine_join(e, p->leg, 1) == 0;
    }
    if (!check(ok, "%s: two SRTP legs open and join a conference", name)) return;
    size_t tick = 0;
    run(ph, 2, &tick, 50);
    double a = level_db(&ph[0], 1300), b = level_db(&ph[1], 500);
    double own = level_db(&ph[0], 500);
    check(a > -1.5 && b > -1.5 && own < -35,
          "%s: each phone hears the other through SRTP (%.1f, %.1f dB; own %.1f dB)", name, a, b,
          own);
    check(ph[0].packets >= 40 && ph[0].undecryptable == 0 && ph[1].undecryptable == 0,
          "%s: all %u packets the engine sent authenticate with the phone's key", name,
          ph[0].packets);

    /* a plain packet and one with a wrong key, from the phone's own address */
    engine_leg_stats before, after;
    engine_get_leg_stats(e, ph[0].leg, &before);
    _Alignas(8) uint8_t pkt[12 + 160 + RTPSEC_OVERHEAD];
    size_t n = plain_packet(pkt, sizeof pkt, ph[0].seq++, ph[0].ssrc);
    send_to(ph[0].fd, ph[0].engine_port, pkt, n);
    uint8_t wrong_key[RTPSEC_KEY_LEN];
    fill_key(wrong_key, 99);
    rtpsec *wrong = NULL;
    rtpsec_create(suite, wrong_key, 1, &wrong);
    n = plain_packet(pkt, sizeof pkt, ph[0].seq++, ph[0].ssrc);
    rtpsec_protect(wrong, pkt, &n, sizeof pkt);
    send_to(ph[0].fd, ph[0].engine_port, pkt, n);
    rtpsec_destroy(wrong);
    run(ph, 2, &tick, 5);
    engine_get_leg_stats(e, ph[0].leg, &after);
    check(after.dropped_auth == before.dropped_auth + 2,
          "%s: a plain packet and a wrongly keyed one are dropped as failing auth (%llu)", name,
          (unsigned long long)(after.dropped_auth - before.dropped_auth));
    engine_stats st;
    engine_get_stats(e, &st);
    check(st.dropped_auth == 2, "%s: the engine counts them too (%llu)", name,
          (unsigned long long)st.dropped_auth);

    /* a re-INVITE changes the phone's key: packets with the old one fail, the new one works */
    engine_leg_options o = {
        .codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 20, .srtp = suite};
    fill_key(o.srtp_tx_key, 10);
    fill_key(o.srtp_rx_key, 30);
    check(engine_connect_leg(e, ph[0].leg, "127.0.0.1", ph[0].port, &o) == 0,
          "%s: the phone's key changes", name);
    run(ph, 2, &tick, 10);
    engine_get_leg_stats(e, ph[0].leg, &before);
    check(before.dropped_auth >= after.dropped_auth + 9,
          "%s: packets under the old key now fail auth", name);
    rtpsec_destroy(ph[0].tx);
    rtpsec_create(suite, o.srtp_rx_key, 1, &ph[0].tx);
    unsigned undecryptable = ph[0].undecryptable;
    run(ph, 2, &tick, 40);
    b = level_db(&ph[1], 500);
    check(b > -1.5 && ph[0].undecryptable == undecryptable,
          "%s: with the new key the other phone hears it again (%.1f dB), the box's own key "
          "and stream went on",
          name, b);

    engine_destroy(e);
    for (int i = 0; i < 2; i++) {
        close(ph[i].fd);
        rtpsec_destroy(ph[i].tx);
        rtpsec_destroy(ph[i].rx);
    }
}

/* Packets waiting on fd. */
static unsigned drain(int fd) {
    uint8_t buf[2048];
    unsigned n = 0;
    while (recv(fd, buf, sizeof buf, 0) > 0) n++;
    return n;
}

static void test_strict_rtp(void) {
    engine_config cfg = {.bind_address = "127.0.0.1",
                         .port_min = 33000,
                         .port_max = 33099,
                         .latch_quiet_ms = 400,
                         .unanswered_ms = 400};
    engine *e = NULL;
    if (!check(engine_create(&cfg, &e) == 0, "strict RTP: engine starts")) return;
    engine_leg_options o = {.codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 20};

    /* a peer that talks, and a forger on the same host */
    phone p = {0}, forger = {0};
    p.fd = udp_socket(&p.port);
    forger.fd = udp_socket(&forger.port);
    uint32_t leg;
    uint16_t eport;
    engine_open_leg(e, &o, &leg, &eport);
    engine_connect_leg(e, leg, "127.0.0.1", p.port, NULL);
    _Alignas(8) uint8_t pkt[12 + 160];
    size_t n;
    for (int i = 0; i < 10; i++) {
        n = plain_packet(pkt, sizeof pkt, (uint16_t)i, 0x77);
        send_to(p.fd, eport, pkt, n);
        sleep_ms(20);
    }
    n = plain_packet(pkt, sizeof pkt, 10, 0x99);
    send_to(forger.fd, eport, pkt, n); /* while the peer talks */
    for (int i = 11; i < 15; i++) {
        n = plain_packet(pkt, sizeof pkt, (uint16_t)i, 0x77);
        send_to(p.fd, eport, pkt, n);
        sleep_ms(20);
    }
    engine_leg_stats st;
    engine_get_leg_stats(e, leg, &st);
    check(st.dropped_foreign == 1 && st.relatches == 0,
          "one packet from another port while the peer talks is dropped (%llu), no re-latch",
          (unsigned long long)st.dropped_foreign);

    sleep_ms(600); /* the peer falls silent longer than latch_quiet_ms */
    drain(forger.fd);
    for (int i = 0; i < 10; i++) {
        n = plain_packet(pkt, sizeof pkt, (uint16_t)(100 + i), 0x99);
        send_to(forger.fd, eport, pkt, n);
        sleep_ms(20);
    }
    sleep_ms(60);
    engine_get_leg_stats(e, leg, &st);
    check(st.relatches == 1, "after the locked source was silent, a new one takes over (%u)",
          st.relatches);
    engine_leg_options sym = o;
    sym.symmetric = 1;
    engine_connect_leg(e, leg, "127.0.0.1", p.port, &sym);
    sleep_ms(100);
    check(drain(forger.fd) > 0, "with symmetric RTP the engine now sends to the new source");
    engine_close_leg(e, leg);

    /* a peer that never sends: the leg stops sending after unanswered_ms */
    phone q = {0};
    q.fd = udp_socket(&q.port);
    engine_open_leg(e, &o, &leg, &eport);
    engine_connect_leg(e, leg, "127.0.0.1", q.port, NULL);
    sleep_ms(200);
    unsigned early = drain(q.fd);
    sleep_ms(600);
    drain(q.fd);
    sleep_ms(400);
    unsigned later = drain(q.fd);
    check(early > 0 && later == 0,
          "a leg sends to a silent peer at first (%u packets), then stops (%u)", early, later);
    n = plain_packet(pkt, sizeof pkt, 1, 0x42);
    send_to(q.fd, eport, pkt, n);
    sleep_ms(200);
    check(drain(q.fd) > 0, "once the peer sends RTP, the leg sends again");
    engine_close_leg(e, leg);
    engine_destroy(e);
    close(p.fd);
    close(forger.fd);
    close(q.fd);
}

int main(void) {
    const char *why = rtpsec_unavailable();
    if (!check(why == NULL, "libsrtp2 loads: %s", why ? why : rtpsec_version()))
        return check_done();
    uint8_t key[RTPSEC_KEY_LEN] = {0};
    rtpsec *s = NULL;
    check(rtpsec_create((rtpsec_suite)7, key, 1, &s) == -EINVAL, "an unknown suite is refused");
    test_round_trip(RTPSEC_AES_CM_128_HMAC_SHA1_80);
    test_round_trip(RTPSEC_AES_CM_128_HMAC_SHA1_32);
    test_engine_srtp(RTPSEC_AES_CM_128_HMAC_SHA1_80);
    test_engine_srtp(RTPSEC_AES_CM_128_HMAC_SHA1_32);
    test_strict_rtp();
    return check_done();
}
