/* The media engine: RTP legs, conferences and playback, mixed on real-time media threads.
 *
 * engine_create() starts the media threads (engine_config.media_threads). Each wakes on a 10 ms
 * absolute timer of its own (not on every datagram): at each expiry it reads what the RTP and RTCP
 * sockets of its legs hold, each datagram with the time the kernel received it; every other
 * expiry is then a tick, which pulls one 20 ms frame from each of its legs' jitter buffers,
 * mixes each of its conferences and queues one frame for each connected leg; on every expiry each
 * leg whose packet time has passed since its last packet sends one packet. A conference runs on
 * one thread with all its members: a new conference goes to the thread with the fewest legs, and
 * a leg that joins a conference on another thread moves there with its sockets.
 *
 * Every other function is called by the host (the N-API binding) from any thread: they take the
 * engine's lock and then the lock of the thread that runs the leg or conference, which that thread
 * holds only while it handles a packet or a tick, and never do I/O on its behalf.
 *
 * Events (DTMF digits, RTP timeouts, finished playbacks, late ticks) are queued by the media
 * threads in one bounded ring, in order; a thread that queued one then calls the host's notify
 * callback, which must not block (the binding calls a thread-safe function), and the host drains
 * the ring with engine_poll_events(). Functions returning int return 0 or a negative errno value.
 */
#ifndef CONFBOX_ENGINE_H
#define CONFBOX_ENGINE_H

#include "echo_cancel.h"
#include "local_audio.h"
#include "srtp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct engine engine;

/** Codecs a leg can use (the values are the static RTP payload types). */
typedef enum {
    ENGINE_CODEC_PCMU = 0, /**< G.711 µ-law, 8 kHz */
    ENGINE_CODEC_PCMA = 8, /**< G.711 A-law, 8 kHz */
    ENGINE_CODEC_G722 = 9, /**< G.722, 16 kHz audio on an 8 kHz RTP clock */
} engine_codec;

/** The most media threads an engine runs. */
#define ENGINE_MAX_THREADS 64

/** Engine-wide settings for engine_create(). Zero fields take the default in brackets. */
typedef struct {
    const char *bind_address; /**< numeric IPv4 or IPv6 address for RTP sockets ["0.0.0.0"] */
    uint16_t port_min;        /**< RTP port range, RTP on even ports, RTCP on the next [20000] */
    uint16_t port_max;        /**< [20999] */
    unsigned max_legs;        /**< legs open at once [the RTP/RTCP port pairs of the range] */
    unsigned rtp_timeout_ms;  /**< default inactivity timeout of a leg [30000] */
    unsigned vad_level;       /**< mean |sample| below which a frame is not mixed [0: off] */
    const char *cname;        /**< RTCP CNAME ["confbox"] */
    int rt_priority;        /**< SCHED_FIFO priority of the media threads, if permitted [0: none] */
    unsigned media_threads; /**< threads that mix and move media, at most ENGINE_MAX_THREADS; a
                                 conference runs on one of them [the processors this process may
                                 use, less one, at least 1] */
    unsigned latch_quiet_ms; /**< a leg's locked RTP source must be silent this long before
                                  another source of the peer may take its place [2000] */
    unsigned unanswered_ms;  /**< a leg that has received no RTP this long after it was
                                  connected stops sending until RTP comes [10000] */
    void (*notify)(
        void *ctx);   /**< events are waiting; called on the media thread, must not block */
    void *notify_ctx; /**< passed to notify */
} engine_config;

/** What a leg does with its media, from the box's side (the SDP direction); flags of
 *  engine_leg_options.direction, 0 for both ways. */
enum {
    ENGINE_DIR_NO_SEND = 1,    /**< no RTP goes to the leg (its caller is on hold or only sends) */
    ENGINE_DIR_NO_RECEIVE = 2, /**< what the leg sends is not mixed, and its silence never times
                                    out (its caller is on hold or only listens) */
};

/** Per-leg media settings, from the SDP offer/answer. */
typedef struct {
    engine_codec codec;      /**< codec of audio sent and received */
    uint8_t payload_type;    /**< RTP payload type of that codec (dynamic or static) */
    int dtmf_payload_type;   /**< RFC 4733 telephone-event payload type, -1 if none */
    unsigned ptime_ms;       /**< packet time we send, 10..60 in steps of 10 [20]; packets of
                                  every ptime leave on a 10 ms grid, one per ptime */
    unsigned direction;      /**< ENGINE_DIR_* flags [0: send and receive] */
    unsigned rtp_timeout_ms; /**< inactivity timeout [engine default]; UINT32_MAX: never */
    int symmetric;           /**< NAT: accept the first source from any host and send to it */
    rtpsec_suite srtp;       /**< SRTP/SRTCP crypto suite [RTPSEC_NONE: plain RTP and RTCP] */
    uint8_t srtp_tx_key[RTPSEC_KEY_LEN]; /**< master key and salt of what the leg sends */
    uint8_t srtp_rx_key[RTPSEC_KEY_LEN]; /**< master key and salt of what it receives */
} engine_leg_options;

/** What a playback goes into. */
typedef enum {
    ENGINE_TARGET_LEG = 0,        /**< one leg */
    ENGINE_TARGET_CONFERENCE = 1, /**< every member of a conference */
} engine_target;

/** Playback flags. */
enum {
    ENGINE_PLAY_LOOP = 1,    /**< start again at the end until stopped (waiting music) */
    ENGINE_PLAY_REPLACE = 2, /**< heard instead of the conference, not mixed with it */
};

/** Kinds of events. */
typedef enum {
    ENGINE_EVENT_DTMF = 1, /**< leg pressed digit */
    ENGINE_EVENT_RTP_TIMEOUT =
        2,                    /**< no RTP from leg for its timeout (reported once per silence) */
    ENGINE_EVENT_PLAYED = 3,  /**< playback finished (not sent for engine_stop or replacement) */
    ENGINE_EVENT_OVERRUN = 4, /**< ticks were late: count says how many since the last report */
    ENGINE_EVENT_LOCAL = 5,   /**< a local leg's sound card changed state: leg; count is the new
                                   local_audio_state (engine_get_local_status tells the rest) */
    ENGINE_EVENT_TALK = 6,    /**< a conference member started or stopped talking, or its line
                                   became noisy or quiet: leg; count is TALK_TALKING | TALK_NOISY */
} engine_event_type;

/** One event. */
typedef struct {
    engine_event_type type;
    uint32_t leg;        /**< DTMF, RTP_TIMEOUT, PLAYED into a leg */
    uint32_t conference; /**< PLAYED into a conference */
    uint32_t playback;   /**< PLAYED: the id engine_play() returned */
    uint32_t count;      /**< OVERRUN: late ticks */
    char digit;          /**< DTMF: one of 0-9 * # A-D */
} engine_event;

/** Engine-wide counters. */
typedef struct {
    uint32_t legs, conferences;
    uint64_t ticks, late_ticks;       /**< 20 ms ticks every media thread ran (a stalled one stalls
                                           the count); ticks missed by any (late timer) */
    uint64_t packets_in, packets_out; /**< RTP accepted; RTP sent */
    uint64_t dropped_malformed;       /**< failed RTP/RTCP validation */
    uint64_t dropped_foreign;         /**< from a source other than the leg's */
    uint64_t dropped_other;           /**< unknown payload type, late or duplicate */
    uint64_t dropped_auth;            /**< failed SRTP/SRTCP authentication */
    uint64_t receive_calls, send_calls; /**< system calls that took or sent packets */
    uint64_t events_dropped;            /**< the event ring was full */
    uint32_t tick_max_us;               /**< longest tick of the last one to two seconds */
    uint32_t tick_max_ever_us;          /**< longest tick since the engine started */
    uint32_t threads;                   /**< media threads */
} engine_stats;

/** One leg's counters. */
typedef struct {
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t dropped_malformed, dropped_foreign, dropped_other, dropped_auth;
    uint32_t relatches; /**< times another source took over the leg's stream */
    uint32_t lost;      /**< RTP packets lost (RFC 3550 A.3) */
    uint32_t jitter_ms; /**< interarrival jitter (RFC 3550 A.8) */
    uint32_t buffer_ms; /**< jitter buffer depth */
    uint32_t target_ms; /**< its adaptive target */
    uint32_t concealed; /**< frames concealed */
    uint32_t ssrc_changes;
    uint32_t remote_lost;      /**< the remote's latest RTCP report about us: lost, */
    uint32_t remote_jitter_ms; /**< and jitter */
    uint16_t local_port;
    uint16_t thread; /**< the media thread that runs the leg, from 0 */
} engine_leg_stats;

/** The first media thread's name (at most 15 characters), as top -H and ps -L show it; the
 *  others are named ENGINE_THREAD_NAME "2", "3" and so on. */
#define ENGINE_THREAD_NAME "confbox-media"

/** Starts an engine and its thread; *out receives it. */
int engine_create(const engine_config *cfg, engine **out);
/** Stops the thread, closes every leg and frees everything. */
void engine_destroy(engine *e);

/** Opens a leg on a free even port of the range (RTCP on the next); it is silent and drops
 *  all RTP until connected. With opts->srtp it sends SRTP and SRTCP and accepts only packets
 *  that authenticate with its receive key (-ENOSYS when libsrtp2 is unavailable). */
int engine_open_leg(engine *e, const engine_leg_options *opts, uint32_t *leg, uint16_t *local_port);
/** Sets where the leg's RTP goes (the SDP's address and port; RTCP to port + 1) and its media
 *  settings (opts may be NULL to keep them); also for a re-INVITE. The strict-RTP source lock
 *  is released if the address or port changes (media moved, as a PBX's direct media does).
 *  A direction that turns receiving back on restarts the inactivity timer; one that turns
 *  sending back on marks the next packet as the start of a talkspurt.
 *  Output SSRC, sequence and timestamp continue across calls;
 *  an SRTP context is made afresh only for a direction whose suite or key changed.
 *  Strict RTP: the leg takes RTP from the first source of the signalled host (any host if
 *  symmetric) and then from that source only, until it has been silent for latch_quiet_ms.
 *  Until a first packet came, the leg sends for unanswered_ms after this call, then stops.
 *  An unspecified address (0.0.0.0 or ::) puts the leg on hold: nothing is sent. -EINVAL for a
 *  local leg. */
int engine_connect_leg(engine *e, uint32_t leg, const char *address, uint16_t port,
                       const engine_leg_options *opts);
/** Opens a local leg: the box's own microphone and speaker (local_audio.h) instead of RTP. It
 *  mixes at 16 kHz, joins conferences, is muted and hears playback like any leg, and opens its
 *  devices on a thread of its own, reopening them with back-off when they fail or disappear
 *  (each change of state is an ENGINE_EVENT_LOCAL). -EINVAL if neither device is named. */
int engine_open_local_leg(engine *e, const local_audio_config *devices, uint32_t *leg);
/** A local leg's device state and counters; -EINVAL for a leg that is not local. */
int engine_get_local_status(engine *e, uint32_t leg, local_audio_status *out);
/** Cancels the speaker's echo in a local leg's microphone (see echo_cancel.h; rate and frame are
 * the sound card's), or stops with NULL; -ENOSYS when speexdsp cannot be loaded
 * (echo_cancel_unavailable says why), -ENOENT, -EINVAL. */
int engine_set_local_echo(engine *e, uint32_t leg, const echo_cancel_config *cfg);
/** 1 when the local leg cancels echo, 0 when not; -ENOENT, -EINVAL (not a local leg). */
int engine_local_echo_active(engine *e, uint32_t leg);
/** Closes a leg (leaving its conference and stopping its playback). */
int engine_close_leg(engine *e, uint32_t leg);

/** Puts the leg into a conference (created on first join; a leg is in at most one). */
int engine_join(engine *e, uint32_t leg, uint32_t conference);
/** Takes the leg out of its conference (the conference, and any playback into it, ends with
 *  its last member). */
int engine_leave(engine *e, uint32_t leg);
/** A muted leg still hears the conference but is not mixed into it. */
int engine_set_muted(engine *e, uint32_t leg, int muted);

/** Stores a sound (mono 16-bit PCM at 8000 or 16000 Hz; copied) for playback; *sound gets
 *  its id. Sounds are kept until engine_destroy(). */
int engine_add_sound(engine *e, const int16_t *pcm, size_t samples, unsigned rate, uint32_t *sound);
/** Plays a sound into a leg or a conference, replacing what that target was playing (the
 *  replaced playback sends no event). *playback (may be NULL) gets the id of the PLAYED event. */
/** Starts keeping the conference's mix (what a member who says nothing hears, playback included)
 *  at 16 kHz in a ring of `seconds` (1-60) that the host drains with engine_read_recording();
 *  audio the host does not take in time is dropped oldest first and counted. -EBUSY if the
 *  conference is recorded already, -ENOENT without such a conference. The recording ends with
 *  engine_record_stop() or with the conference. */
int engine_record(engine *e, uint32_t conference, uint32_t seconds);
/** Moves up to max samples of the conference's recording into pcm (*got: how many); *dropped
 *  (may be NULL) gets the samples dropped so far. -ENOENT if it is not being recorded. */
int engine_read_recording(engine *e, uint32_t conference, int16_t *pcm, size_t max, size_t *got,
                          uint64_t *dropped);
/** Stops recording the conference; what was not read is gone. -ENOENT if it was not recorded. */
int engine_record_stop(engine *e, uint32_t conference);
int engine_play(engine *e, engine_target target, uint32_t id, uint32_t sound, unsigned flags,
                uint32_t *playback);
/** Stops the target's playback, if any (no event). */
int engine_stop(engine *e, engine_target target, uint32_t id);

/** Reads the engine's counters; reading changes none of them (every reader sees the same). */
int engine_get_stats(engine *e, engine_stats *out);
/** Reads one leg's counters. */
int engine_get_leg_stats(engine *e, uint32_t leg, engine_leg_stats *out);
/** Moves up to max queued events into ev; returns how many. Call from one thread at a time. */
size_t engine_poll_events(engine *e, engine_event *ev, size_t max);

#endif
