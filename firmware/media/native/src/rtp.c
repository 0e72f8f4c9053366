/* RTP/RTCP parsing and building (RFC 3550), telephone events (RFC 4733). */
#include "rtp.h"
#include "fixed.h"

#include <string.h>

#define MAX_DROPOUT  3000 /* RFC 3550 A.1: a forward jump this large is still in order */
#define MAX_MISORDER 100  /* and a step back this small is a late packet, not a restart */

static uint16_t be16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int rtp_parse(const uint8_t *buf, size_t len, rtp_header *h) {
    memset(h, 0, sizeof *h);
    if (len < 12) return RTP_E_SHORT;
    h->version = buf[0] >> 6;
    if (h->version != 2) return RTP_E_VERSION;
    h->padding = (buf[0] >> 5) & 1;
    h->extension = (buf[0] >> 4) & 1;
    h->csrc_count = buf[0] & 0x0F;
    h->marker = buf[1] >> 7;
    h->payload_type = buf[1] & 0x7F;
    h->seq = be16(buf + 2);
    h->timestamp = be32(buf + 4);
    h->ssrc = be32(buf + 8);
    size_t off = 12 + 4 * (size_t)h->csrc_count;
    if (off > len) return RTP_E_CSRC;
    for (int i = 0; i < h->csrc_count; i++) h->csrc[i] = be32(buf + 12 + 4 * i);
    if (h->extension) {
        if (len - off < 4) return RTP_E_EXTENSION;
        h->ext_profile = be16(buf + off);
        h->ext_len = 4 * (size_t)be16(buf + off + 2);
        if (len - off - 4 < h->ext_len) return RTP_E_EXTENSION;
        h->ext = buf + off + 4;
        off += 4 + h->ext_len;
    }
    size_t end = len;
    if (h->padding) {
        size_t pad = buf[len - 1];
        if (pad == 0 || pad > len - off) return RTP_E_PADDING; /* count must fit the payload */
        end -= pad;
    }
    h->payload = buf + off;
    h->payload_len = end - off;
    return RTP_OK;
}

int rtp_is_rtcp(const uint8_t *buf, size_t len) {
    return len >= 2 && buf[1] >= 192 && buf[1] <= 223;
}

size_t rtp_write_header(uint8_t *buf, size_t cap, const rtp_header *h) {
    int cc = h->csrc_count & 0x0F;
    size_t n = 12 + 4 * (size_t)cc;
    if (cap < n) return 0;
    buf[0] = (uint8_t)(2 << 6 | cc);
    buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->payload_type & 0x7F));
    put16(buf + 2, h->seq);
    put32(buf + 4, h->timestamp);
    put32(buf + 8, h->ssrc);
    for (int i = 0; i < cc; i++) put32(buf + 12 + 4 * i, h->csrc[i]);
    return n;
}

int rtp_parse_telephone_event(const uint8_t *p, size_t len, rtp_telephone_event *ev) {
    memset(ev, 0, sizeof *ev);
    if (len < 4) return RTP_E_SHORT;
    ev->event = p[0];
    ev->end = p[1] >> 7;
    ev->volume = p[1] & 0x3F;
    ev->duration = be16(p + 2);
    return RTP_OK;
}

char rtp_event_digit(uint8_t event) {
    static const char keys[] = "0123456789*#ABCD";
    return event < 16 ? keys[event] : 0;
}

void rtp_dtmf_reset(rtp_dtmf_state *s) {
    memset(s, 0, sizeof *s);
}

char rtp_dtmf_feed(rtp_dtmf_state *s, uint32_t ssrc, uint32_t timestamp,
                   const rtp_telephone_event *ev) {
    if (s->have && s->ssrc == ssrc && s->timestamp == timestamp) return 0; /* same key press */
    s->have = 1;
    s->ssrc = ssrc;
    s->timestamp = timestamp;
    s->event = ev->event;
    return rtp_event_digit(ev->event);
}

void rtp_rx_init(rtp_rx_stats *s, uint32_t ssrc, uint16_t seq) {
    memset(s, 0, sizeof *s);
    s->initialized = 1;
    s->ssrc = ssrc;
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = 0x10001; /* no sequence number equals it */
}

static void rx_restart(rtp_rx_stats *s, uint16_t seq) {
    uint32_t last_sr = s->last_sr, ssrc = s->ssrc;
    uint64_t last_sr_us = s->last_sr_us;
    rtp_rx_init(s, ssrc, seq);
    s->last_sr = last_sr;
    s->last_sr_us = last_sr_us;
}

int rtp_rx_update(rtp_rx_stats *s, uint16_t seq, uint32_t timestamp, uint32_t arrival) {
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (udelta < MAX_DROPOUT) {
        if (seq < s->max_seq) s->cycles += 0x10000; /* wrapped forward */
        s->max_seq = seq;
    } else if (udelta <= 0x10000 - MAX_MISORDER) {
        if ((uint32_t)seq != s->bad_seq) {
            s->bad_seq = (uint16_t)(seq + 1); /* a jump: believe it if the next one follows */
            return 0;
        }
        rx_restart(s, seq); /* two packets in a row after the jump: the sender restarted */
    }                       /* else: late or duplicate, counted as received (RFC 3550 A.1) */
    s->received++;
    uint32_t transit = arrival - timestamp;
    if (s->have_transit) {
        int32_t d = WRAP_DIFF32(transit, s->transit);
        uint32_t ad = d < 0 ? (uint32_t)(-(int64_t)d) : (uint32_t)d;
        if (ad > 0xFFFFFF) ad = 0xFFFFFF; /* a timestamp jump must not overflow the estimate */
        s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = 1;
    return 1;
}

uint32_t rtp_rx_extended_max(const rtp_rx_stats *s) {
    return s->cycles + s->max_seq;
}

int32_t rtp_rx_lost(const rtp_rx_stats *s) {
    int64_t expected = (int64_t)rtp_rx_extended_max(s) - s->base_seq + 1;
    int64_t lost = expected - s->received;
    if (lost > 0x7FFFFF) lost = 0x7FFFFF;
    if (lost < -0x800000) lost = -0x800000;
    return (int32_t)lost;
}

static void parse_block(const uint8_t *p, rtcp_report_block *b) {
    b->ssrc = be32(p);
    b->fraction_lost = p[4];
    int32_t lost = (int32_t)((uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7]);
    b->lost = lost & 0x800000 ? lost - 0x1000000 : lost;
    b->highest_seq = be32(p + 8);
    b->jitter = be32(p + 12);
    b->lsr = be32(p + 16);
    b->dlsr = be32(p + 20);
}

static void keep_blocks(rtcp_info *out, const uint8_t *p, int count) {
    for (int i = 0; i < count && out->n_blocks < RTCP_MAX_BLOCKS; i++)
        parse_block(p + 24 * i, &out->blocks[out->n_blocks++]);
}

int rtcp_parse(const uint8_t *buf, size_t len, rtcp_info *out) {
    memset(out, 0, sizeof *out);
    if (len < 4) return RTP_E_SHORT;
    size_t off = 0;
    while (off < len) {
        if (len - off < 4) return RTP_E_SHORT;
        const uint8_t *p = buf + off;
        if (p[0] >> 6 != 2) return RTP_E_VERSION;
        int padding = (p[0] >> 5) & 1, count = p[0] & 0x1F, type = p[1];
        size_t plen = 4 * ((size_t)be16(p + 2) + 1);
        if (plen > len - off) return RTP_E_LENGTH;
        if (off == 0 && (type < 192 || type > 223)) return RTP_E_TYPE; /* not RTCP at all */
        size_t body = plen - 4;
        if (padding) {
            if (off + plen != len) return RTP_E_PADDING; /* only the last packet may pad */
            size_t pad = p[plen - 1];
            if (pad == 0 || pad > body) return RTP_E_PADDING;
            body -= pad;
        }
        const uint8_t *b = p + 4;
        if (type == 200) { /* SR: ssrc, sender info (20), blocks */
            if (body < 24 + 24 * (size_t)count) return RTP_E_LENGTH;
            out->has_sr = 1;
            out->ssrc = be32(b);
            out->ntp = (uint64_t)be32(b + 4) << 32 | be32(b + 8);
            out->rtp_ts = be32(b + 12);
            out->packets = be32(b + 16);
            out->octets = be32(b + 20);
            keep_blocks(out, b + 24, count);
        } else if (type == 201) { /* RR: ssrc, blocks */
            if (body < 4 + 24 * (size_t)count) return RTP_E_LENGTH;
            if (!out->has_sr) out->ssrc = be32(b);
            keep_blocks(out, b + 4, count);
        } else if (type == 203) {
            if (body < 4 * (size_t)count) return RTP_E_LENGTH;
            out->bye = 1;
        }
        out->n_packets++;
        off += plen;
    }
    return RTP_OK;
}

size_t rtcp_build_report(uint8_t *buf, size_t cap, uint32_t ssrc, const rtcp_sender_info *sender,
                         rtp_rx_stats *rx, uint64_t now_us, const char *cname) {
    int blocks = rx && rx->initialized ? 1 : 0;
    size_t report = 8 + (sender ? 20 : 0) + 24 * (size_t)blocks;
    size_t clen = cname ? strlen(cname) : 0;
    if (clen > 255) clen = 255;
    size_t sdes = 4 + ((4 + 2 + clen + 1 + 3) & ~(size_t)3); /* chunk ends in a null, padded to 4 */
    if (cap < report + sdes) return 0;
    memset(buf, 0, report + sdes);

    buf[0] = (uint8_t)(2 << 6 | blocks);
    buf[1] = sender ? 200 : 201;
    put16(buf + 2, (uint16_t)(report / 4 - 1));
    put32(buf + 4, ssrc);
    uint8_t *p = buf + 8;
    if (sender) {
        put32(p, (uint32_t)(sender->ntp >> 32));
        put32(p + 4, (uint32_t)sender->ntp);
        put32(p + 8, sender->rtp_ts);
        put32(p + 12, sender->packets);
        put32(p + 16, sender->octets);
        p += 20;
    }
    if (blocks) {
        uint32_t ext_max = rtp_rx_extended_max(rx);
        uint32_t expected = ext_max - rx->base_seq + 1;
        uint32_t exp_int = expected - rx->expected_prior;
        uint32_t rec_int = rx->received - rx->received_prior;
        rx->expected_prior = expected;
        rx->received_prior = rx->received;
        int64_t lost_int = (int64_t)exp_int - rec_int;
        uint8_t fraction = 0;
        if (exp_int != 0 && lost_int > 0) fraction = (uint8_t)((lost_int << 8) / exp_int);
        uint32_t lost = (uint32_t)rtp_rx_lost(rx) & 0xFFFFFF;
        put32(p, rx->ssrc);
        p[4] = fraction;
        p[5] = (uint8_t)(lost >> 16);
        p[6] = (uint8_t)(lost >> 8);
        p[7] = (uint8_t)lost;
        put32(p + 8, ext_max);
        put32(p + 12, rtp_rx_jitter(rx));
        uint32_t dlsr = 0;
        if (rx->last_sr_us && now_us >= rx->last_sr_us)
            dlsr = (uint32_t)((now_us - rx->last_sr_us) * 65536 / 1000000); /* 1/65536 s */
        put32(p + 16, rx->last_sr_us ? rx->last_sr : 0);
        put32(p + 20, dlsr);
        p += 24;
    }
    p[0] = 2 << 6 | 1; /* SDES with one chunk */
    p[1] = 202;
    put16(p + 2, (uint16_t)(sdes / 4 - 1));
    put32(p + 4, ssrc);
    p[8] = 1; /* CNAME */
    p[9] = (uint8_t)clen;
    if (clen) memcpy(p + 10, cname, clen);
    return report + sdes;
}
