/* RTP and RTCP (RFC 3550) parsing, validation and building; RFC 4733 telephone events.
 *
 * Parsers never read outside [buf, buf + len) and return a negative rtp_error for anything
 * malformed. Pointers in parse results point into the caller's buffer. */
#ifndef CONFBOX_RTP_H
#define CONFBOX_RTP_H

#include <stddef.h>
#include <stdint.h>

/** Why a packet was refused. */
typedef enum {
    RTP_OK = 0,
    RTP_E_SHORT = -1,     /**< shorter than the fixed header */
    RTP_E_VERSION = -2,   /**< version is not 2 */
    RTP_E_CSRC = -3,      /**< CSRC list runs past the end */
    RTP_E_EXTENSION = -4, /**< header extension runs past the end */
    RTP_E_PADDING = -5,   /**< padding count is 0 or larger than the payload */
    RTP_E_LENGTH = -6,    /**< an RTCP length field disagrees with the datagram */
    RTP_E_TYPE = -7,      /**< packet type not expected here (e.g. RTCP on an RTP parser) */
    RTP_E_SPACE = -8,     /**< output buffer too small */
} rtp_error;

/** A parsed RTP header. */
typedef struct {
    uint8_t version, padding, extension, csrc_count, marker, payload_type;
    uint16_t seq;
    uint32_t timestamp, ssrc;
    uint32_t csrc[15];
    uint16_t ext_profile; /**< header extension profile ("defined by profile" field) */
    const uint8_t *ext;   /**< extension data (ext_len bytes), NULL if none */
    size_t ext_len;
    const uint8_t *payload; /**< payload without padding */
    size_t payload_len;
} rtp_header;

/** Parses and validates one RTP packet; RTP_OK or a negative rtp_error. */
int rtp_parse(const uint8_t *buf, size_t len, rtp_header *out);
/** 1 if the datagram looks like RTCP (RFC 5761: second octet 192..223), for muxed ports. */
int rtp_is_rtcp(const uint8_t *buf, size_t len);
/** Writes a 12-byte header plus CSRCs (no extension, no padding); returns the length or 0. */
size_t rtp_write_header(uint8_t *buf, size_t cap, const rtp_header *h);

/** One RFC 4733 telephone-event payload. */
typedef struct {
    uint8_t event;     /**< 0-9, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash */
    uint8_t end;       /**< E bit */
    uint8_t volume;    /**< -dBm0, 0..63 */
    uint16_t duration; /**< in timestamp units */
} rtp_telephone_event;

/** Parses the first event block of a telephone-event payload; RTP_OK or RTP_E_SHORT. */
int rtp_parse_telephone_event(const uint8_t *payload, size_t len, rtp_telephone_event *out);
/** The character of an event code ("0123456789*#ABCD"), or 0 for codes that are not keys. */
char rtp_event_digit(uint8_t event);

/** Turns the packets of telephone events into one digit per key press. */
typedef struct {
    int have; /**< an event was seen */
    uint32_t ssrc, timestamp;
    uint8_t event;
} rtp_dtmf_state;

/** Forgets the previous event (e.g. on SSRC change). */
void rtp_dtmf_reset(rtp_dtmf_state *s);
/** Feeds one telephone-event packet. All packets of one key press share an RTP timestamp
 *  (updates and the three end packets too), so a digit is reported once, on the first packet
 *  of a new timestamp. Returns the digit, or 0 if this packet reports nothing new. */
char rtp_dtmf_feed(rtp_dtmf_state *s, uint32_t ssrc, uint32_t timestamp,
                   const rtp_telephone_event *ev);

/** Receive statistics of one source (RFC 3550 A.1 sequence tracking, A.3 loss, A.8 jitter). */
typedef struct {
    int initialized;
    uint32_t ssrc;
    uint16_t max_seq;  /**< highest sequence number seen */
    uint32_t cycles;   /**< wraps of the sequence number, << 16 */
    uint32_t base_seq; /**< first sequence number */
    uint32_t bad_seq;  /**< sequence after a large jump, to detect a restart */
    uint32_t received; /**< packets accepted */
    uint32_t expected_prior, received_prior; /**< at the last report */
    uint32_t transit;                        /**< previous relative transit time */
    uint32_t jitter_q4;                      /**< interarrival jitter, timestamp units * 16 */
    int have_transit;
    uint32_t last_sr;    /**< middle 32 bits of the NTP time of the last SR received */
    uint64_t last_sr_us; /**< when that SR arrived (caller's clock), 0 if none */
} rtp_rx_stats;

/** Starts tracking a source from its first packet. */
void rtp_rx_init(rtp_rx_stats *s, uint32_t ssrc, uint16_t seq);
/** Accounts one packet; arrival is in timestamp units of the caller's clock. Returns 1 if the
 *  packet counts (in order, late or a restart), 0 if it is a duplicate or a jump to ignore. */
int rtp_rx_update(rtp_rx_stats *s, uint16_t seq, uint32_t timestamp, uint32_t arrival);
/** Extended highest sequence number (cycles + max_seq). */
uint32_t rtp_rx_extended_max(const rtp_rx_stats *s);
/** Cumulative packets lost (may be negative with duplicates), clamped to 24 bits. */
int32_t rtp_rx_lost(const rtp_rx_stats *s);
/** Interarrival jitter in timestamp units. */
static inline uint32_t rtp_rx_jitter(const rtp_rx_stats *s) {
    return s->jitter_q4 >> 4;
}

/** One RTCP report block. */
typedef struct {
    uint32_t ssrc;         /**< source the block is about */
    uint8_t fraction_lost; /**< lost since the last report, / 256 */
    int32_t lost;          /**< cumulative, 24-bit signed */
    uint32_t highest_seq, jitter, lsr, dlsr;
} rtcp_report_block;

#define RTCP_MAX_BLOCKS 8

/** What a compound RTCP packet says that the engine uses. */
typedef struct {
    int has_sr;                       /**< a sender report was present */
    uint32_t ssrc;                    /**< sender of the SR/RR */
    uint64_t ntp;                     /**< SR: NTP timestamp */
    uint32_t rtp_ts, packets, octets; /**< SR: sender info */
    int n_blocks;                     /**< report blocks kept (at most RTCP_MAX_BLOCKS) */
    rtcp_report_block blocks[RTCP_MAX_BLOCKS];
    int bye;       /**< a BYE was present */
    int n_packets; /**< packets in the compound */
} rtcp_info;

/** Parses and validates a compound RTCP packet (RFC 3550 A.2: version 2, lengths add up to the
 *  datagram, padding only on the last packet; reduced-size packets (RFC 5506) are accepted).
 *  RTP_OK or a negative rtp_error. */
int rtcp_parse(const uint8_t *buf, size_t len, rtcp_info *out);

/** Sender information of an SR. */
typedef struct {
    uint64_t ntp;    /**< wall clock, NTP format */
    uint32_t rtp_ts; /**< the same instant in RTP timestamp units */
    uint32_t packets, octets;
} rtcp_sender_info;

/** Builds a compound SR (sender != NULL) or RR, with one report block about rx (if not NULL
 *  and initialized) and an SDES CNAME. Updates rx's interval counters. now_us is on the clock
 *  that stamped rx->last_sr_us. Returns the length, or 0 if cap is too small. */
size_t rtcp_build_report(uint8_t *buf, size_t cap, uint32_t ssrc, const rtcp_sender_info *sender,
                         rtp_rx_stats *rx, uint64_t now_us, const char *cname);

#endif
