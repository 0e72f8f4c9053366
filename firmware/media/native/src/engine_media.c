/* The media engine's media threads: each runs its legs and conferences on a 20 ms mixing tick
 * and a 10 ms pacing grid on which every leg sends one packet per packet time, and reads what
 * its legs' sockets receive. */
#define _GNU_SOURCE
#include "engine_internal.h"
#include "fixed.h"
#include "g711.h"
#include "srtp.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static uint64_t real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- events ---- */

/* Queues an event for the host, in order with every other thread's (the ring's lock is the last
 * any thread takes). */
void engine_push_event(engine *e, const engine_event *ev) {
    pthread_mutex_lock(&e->ev_lock);
    if (e->ev_head - e->ev_tail >= EVENT_RING)
        e->events_dropped++;
    else
        e->ring[e->ev_head++ % EVENT_RING] = *ev;
    pthread_mutex_unlock(&e->ev_lock);
}

/* Queues an event and has the host told when this thread next waits. */
static void push(worker *w, const engine_event *ev) {
    engine_push_event(w->e, ev);
    w->notify_pending = 1;
}

/* ---- recording ---- */

void engine_recording_put(recording *r, const int16_t *mix, int n) {
    int16_t wide[FRAME_WB];
    const int16_t *pcm = mix;
    if (n == FRAME_NB) {
        resampler_process(r->up, mix, FRAME_NB, wide);
        pcm = wide;
    }
    for (int i = 0; i < FRAME_WB; i++) {
        if (r->len == r->cap) { /* the host is late: the oldest audio goes */
            r->head = (r->head + 1) % r->cap;
            r->len--;
            r->dropped++;
        }
        r->ring[(r->head + r->len) % r->cap] = pcm[i];
        r->len++;
    }
}

/* ---- playback ---- */

int playback_converter(playback *p, int sound_wb, int wb) {
    if (sound_wb == wb || (p->conv && p->conv_wb == wb)) return 0;
    resampler *r = resampler_create(wb ? RESAMPLE_UP : RESAMPLE_DOWN);
    if (!r) return -ENOMEM;
    resampler_destroy(p->conv);
    p->conv = r;
    p->conv_wb = wb;
    return 0;
}

/* Puts the playback's current frame at 8 or 16 kHz into out; 0 if nothing is playing. */
static int play_frame(worker *w, playback *p, int wb, int16_t *out) {
    if (!p->active) return 0;
    const sound *s = &w->e->sounds[p->sound];
    size_t n = s->wb ? FRAME_WB : FRAME_NB;
    const int16_t *frame = s->pcm + p->frame * n;
    if (s->wb == wb) {
        memcpy(out, frame, n * sizeof *out);
        return 1;
    }
    if (playback_converter(p, s->wb, wb) != 0) { /* its rate changed while it played: no memory */
        memset(out, 0, (wb ? FRAME_WB : FRAME_NB) * sizeof *out);
        return 1;
    }
    resampler_process(p->conv, frame, n, out);
    return 1;
}

static void play_advance(worker *w, playback *p, engine_target target, uint32_t id) {
    if (!p->active || ++p->frame < w->e->sounds[p->sound].frames) return;
    if (p->flags & ENGINE_PLAY_LOOP) {
        p->frame = 0;
        return;
    }
    p->active = 0;
    engine_event ev = {.type = ENGINE_EVENT_PLAYED, .playback = p->id};
    if (target == ENGINE_TARGET_LEG)
        ev.leg = id;
    else
        ev.conference = id;
    push(w, &ev);
}

/* ---- media path ---- */

/* Whether the leg may send: it received RTP from its peer, or was connected to it only recently
 * (a forged offer cannot make the box send to a stranger for long). */
static int answered(const worker *w, const leg *l, uint64_t now) {
    return l->has_lock || now < l->connected_us ||
           now - l->connected_us < (uint64_t)w->e->cfg.unanswered_ms * 1000u;
}

/* Sends the first plen octets of the queue as one packet (to nobody when the leg may not send:
 * its timestamps still advance with the time). */
static void send_packet(worker *w, leg *l, unsigned plen) {
    const struct sockaddr_storage *dst = NULL;
    socklen_t dlen = 0;
    if (l->o.direction & ENGINE_DIR_NO_SEND) {
        /* on hold: nothing goes to the caller */
    } else if (l->o.symmetric && l->has_lock) {
        dst = &l->locked;
        dlen = l->locked_len;
    } else if (l->has_remote && answered(w, l, w->now_us)) {
        dst = &l->remote;
        dlen = l->remote_len;
    }
    _Alignas(8) uint8_t pkt[12 + OUTQ + RTPSEC_OVERHEAD];
    rtp_header h = {0};
    h.marker = (uint8_t)l->marker_next;
    h.payload_type = l->o.payload_type;
    h.seq = l->out_seq;
    h.timestamp = l->out_ts;
    h.ssrc = l->out_ssrc;
    size_t hl = rtp_write_header(pkt, sizeof pkt, &h);
    memcpy(pkt + hl, l->outq, plen);
    size_t n = hl + plen;
    if (dst && l->tx_sec && rtpsec_protect(l->tx_sec, pkt, &n, sizeof pkt) != 0) n = 0;
    if (dst && n) {
        w->st.send_calls++;
        if (sendto(l->rtp_fd, pkt, n, 0, (const struct sockaddr *)dst, dlen) >= 0) {
            l->st.packets_out++;
            l->st.bytes_out += plen;
            l->sent_packets++;
            l->sent_octets += plen;
            w->st.packets_out++;
        }
        l->out_seq++;
        l->marker_next = 0;
    }
    l->out_ts += plen; /* one timestamp unit per octet for G.711 and G.722 alike */
    l->outq_len -= plen;
    memmove(l->outq, l->outq + plen, l->outq_len);
}

/* One timer period of a leg's sending: a packet leaves when its packet time has passed since
 * the last one and the queue holds it; a queue a frame longer than that (after late ticks)
 * is sent at once, so that the delay stays bounded. */
static void pace_leg(worker *w, leg *l) {
    unsigned ptime = l->o.ptime_ms ? l->o.ptime_ms : 20, plen = ptime * 8;
    if (l->pace_wait) l->pace_wait--;
    while (l->outq_len >= plen && (l->pace_wait == 0 || l->outq_len >= plen + FRAME_NB)) {
        send_packet(w, l, plen);
        l->pace_wait = ptime * 1000u / PACE_US;
    }
}

/* Encodes (unless pre-encoded) one tick of the leg's audio into its send queue. */
static void leg_output(worker *w, leg *l, const int16_t *pcm, const uint8_t *encoded) {
    if (l->la) { /* the speaker takes the 16 kHz audio as it is; the echo canceller hears it too */
        if (pcm) local_audio_push(l->la, pcm);
        if (pcm && l->ec) echo_cancel_far(l->ec, pcm);
        return;
    }
    unsigned plen = (l->o.ptime_ms ? l->o.ptime_ms : 20) * 8;
    while (l->outq_len + FRAME_NB > OUTQ && l->outq_len >= plen) send_packet(w, l, plen);
    uint8_t *q = l->outq + l->outq_len;
    if (encoded)
        memcpy(q, encoded, FRAME_NB);
    else if (l->o.codec == ENGINE_CODEC_G722)
        g722_encode(l->enc, pcm, FRAME_WB, q);
    else if (l->o.codec == ENGINE_CODEC_PCMA)
        g711_alaw_encode_buf(pcm, FRAME_NB, q);
    else
        g711_ulaw_encode_buf(pcm, FRAME_NB, q);
    l->outq_len += FRAME_NB;
}

/* Keys heard in a leg's audio, also when muted. Every RTP leg listens, with telephone-event or
 * without: gateways that negotiate it may still pass a caller's tones in-band, and a press that
 * comes both ways is reported once (dtmf_sources). */
static void in_band_keys(worker *w, leg *l, const int16_t *pcm) {
    char key = dtmf_detect(&l->tones, pcm, l->wb ? FRAME_WB : FRAME_NB, l->wb ? 16000 : 8000);
    key = dtmf_sources_tone(&l->keys, dtmf_detect_current(&l->tones), key, w->now_us);
    if (key) {
        engine_event out = {.type = ENGINE_EVENT_DTMF, .leg = l->id, .digit = key};
        push(w, &out);
    }
}

/* Whether the leg talks (muted legs too: the page shows a muted person trying to speak) and
 * whether its line is noisy; a change is an event. */
static void talking(worker *w, leg *l, const int16_t *pcm) {
    unsigned before = l->talk.state;
    unsigned now = talk_detect(&l->talk, pcm, pcm ? (l->wb ? FRAME_WB : FRAME_NB) : 0);
    if (now == before) return;
    engine_event out = {.type = ENGINE_EVENT_TALK, .leg = l->id, .count = now};
    push(w, &out);
}

/* Pulls the leg's next frame (leg rate) into w->in_leg; returns 1 if it should be mixed. */
static int leg_input(worker *w, leg *l) {
    jitter_status s = l->la ? (local_audio_pull(l->la, w->in_leg) ? JITTER_FRAME : JITTER_SILENCE)
                            : jitter_get(l->jb, w->in_leg);
    if (l->ec && s != JITTER_SILENCE) echo_cancel_near(l->ec, w->in_leg, w->in_leg);
    if (!l->la) in_band_keys(w, l, s == JITTER_SILENCE ? NULL : w->in_leg);
    talking(w, l, s == JITTER_SILENCE ? NULL : w->in_leg);
    if (s == JITTER_SILENCE || l->muted) return 0;
    if (!w->e->cfg.vad_level) return 1;
    int n = l->wb ? FRAME_WB : FRAME_NB;
    uint32_t sum = 0;
    for (int i = 0; i < n; i++) sum += (uint32_t)abs(w->in_leg[i]);
    if (sum >= w->e->cfg.vad_level * (uint32_t)n) {
        l->vad_hang = VAD_HANGOVER;
        return 1;
    }
    if (l->vad_hang) {
        l->vad_hang--;
        return 1;
    }
    return 0;
}

static void conf_tick(worker *w, conference *c) {
    int n = c->wb ? FRAME_WB : FRAME_NB;
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = w->legs[c->members[i]];
        if (!leg_input(w, l)) continue;
        const int16_t *frame = w->in_leg;
        if (c->wb && !l->wb) {
            resampler_process(l->up, w->in_leg, FRAME_NB, w->in_conf);
            frame = w->in_conf;
        }
        mixer_put(c->mx, l->member, frame);
    }
    int conf_sound = play_frame(w, &c->play, c->wb, w->conf_play);
    int conf_replace = conf_sound && (c->play.flags & ENGINE_PLAY_REPLACE);
    if (conf_sound && !conf_replace) mixer_put(c->mx, c->sound_member, w->conf_play);
    mixer_mix(c->mx);
    if (c->rec) { /* what a listener who says nothing hears */
        int shared;
        engine_recording_put(
            c->rec, conf_replace ? w->conf_play : mixer_get(c->mx, c->rec->member, NULL, &shared),
            n);
    }

    int have_enc[2] = {0, 0};
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = w->legs[c->members[i]];
        int leg_sound = l->play.active;
        if (leg_sound && (l->play.flags & ENGINE_PLAY_REPLACE)) {
            play_frame(w, &l->play, l->wb, w->leg_play);
            leg_output(w, l, w->leg_play, NULL);
            continue;
        }
        const int16_t *out;
        int shared = 0;
        if (conf_replace && !leg_sound) {
            out = w->conf_play;
            shared = 1;
        } else {
            const int16_t *extra = NULL;
            if (leg_sound) {
                play_frame(w, &l->play, c->wb, w->leg_play);
                extra = w->leg_play;
            }
            if (conf_replace) {
                for (int j = 0; j < n; j++) w->out_leg[j] = SAT16(w->conf_play[j] + extra[j]);
                out = w->out_leg;
            } else {
                out = mixer_get(c->mx, l->member, extra, &shared);
            }
        }
        if (c->wb && !l->wb) { /* the leg's own decimator keeps its stream continuous */
            resampler_process(l->down, out, FRAME_WB, w->out_leg);
            out = w->out_leg;
            shared = 0;
        }
        int k = l->o.codec == ENGINE_CODEC_PCMA;
        if (shared && l->o.codec != ENGINE_CODEC_G722 &&
            !l->la) { /* G.711 is stateless: encode once */
            if (!have_enc[k]) {
                if (k)
                    g711_alaw_encode_buf(out, FRAME_NB, w->shared_enc[k]);
                else
                    g711_ulaw_encode_buf(out, FRAME_NB, w->shared_enc[k]);
                have_enc[k] = 1;
            }
            leg_output(w, l, NULL, w->shared_enc[k]);
        } else {
            leg_output(w, l, out, NULL);
        }
    }
    play_advance(w, &c->play, ENGINE_TARGET_CONFERENCE, c->id);
    for (unsigned i = 0; i < c->n_members; i++) {
        leg *l = w->legs[c->members[i]];
        play_advance(w, &l->play, ENGINE_TARGET_LEG, l->id);
    }
}

/* A leg outside any conference hears its playback or silence; its input is drained. */
static void solo_tick(worker *w, leg *l) {
    leg_input(w, l);
    int n = l->wb ? FRAME_WB : FRAME_NB;
    if (!play_frame(w, &l->play, l->wb, w->leg_play))
        memset(w->leg_play, 0, (size_t)n * sizeof(int16_t));
    leg_output(w, l, w->leg_play, NULL);
    play_advance(w, &l->play, ENGINE_TARGET_LEG, l->id);
}

static uint64_t ntp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sec = (uint64_t)ts.tv_sec + 2208988800u; /* 1900 to 1970 */
    return sec << 32 | (((uint64_t)ts.tv_nsec << 32) / 1000000000u);
}

static void send_rtcp(worker *w, leg *l, uint64_t now) {
    struct sockaddr_storage dst;
    socklen_t dlen;
    if (l->o.symmetric && l->has_rtcp_src) {
        dst = l->rtcp_src;
        dlen = l->rtcp_src_len;
    } else if (l->o.symmetric && l->has_lock) {
        dst = l->locked;
        dlen = l->locked_len;
        engine_set_port(&dst, (uint16_t)(engine_get_port(&l->locked) + 1));
    } else if (l->has_remote && answered(w, l, now)) {
        dst = l->remote;
        dlen = l->remote_len;
        engine_set_port(&dst, (uint16_t)(engine_get_port(&l->remote) + 1));
    } else {
        return;
    }
    _Alignas(8) uint8_t buf[256 + RTPSEC_OVERHEAD];
    rtcp_sender_info si = {ntp_now(), l->out_ts, l->sent_packets, l->sent_octets};
    size_t n = rtcp_build_report(buf, 256, l->out_ssrc, l->sent_packets ? &si : NULL,
                                 l->have_ssrc ? &l->rx : NULL, now, w->e->cname);
    if (n && l->tx_sec && rtpsec_protect_rtcp(l->tx_sec, buf, &n, sizeof buf) != 0) n = 0;
    if (n) {
        w->st.send_calls++;
        sendto(l->rtcp_fd, buf, n, 0, (const struct sockaddr *)&dst, dlen);
    }
}

static void leg_housekeeping(worker *w, leg *l, uint64_t now) {
    if (!l->connected) return;
    uint32_t timeout = l->o.rtp_timeout_ms ? l->o.rtp_timeout_ms : w->e->cfg.rtp_timeout_ms;
    /* a held caller is silent by right: only the signalling ends its call */
    if (l->o.direction & ENGINE_DIR_NO_RECEIVE) timeout = UINT32_MAX;
    if (timeout != UINT32_MAX && !l->timed_out && now - l->last_rx_us > (uint64_t)timeout * 1000u) {
        l->timed_out = 1;
        engine_event ev = {.type = ENGINE_EVENT_RTP_TIMEOUT, .leg = l->id};
        push(w, &ev);
    }
    if (now >= l->next_rtcp_us) {
        if (l->next_rtcp_us) send_rtcp(w, l, now);
        /* RFC 3550 6.3.5: randomise to 0.5-1.5 times the interval */
        l->next_rtcp_us = now + RTCP_INTERVAL_US / 2 + engine_random32() % RTCP_INTERVAL_US;
    }
}

static void run_tick(worker *w) {
    uint64_t start = engine_mono_us();
    w->now_us = start;
    w->st.ticks++;
    for (unsigned i = 0; i < w->n_confs; i++) conf_tick(w, &w->e->confs[w->confs[i]]);
    for (unsigned i = 0; i < w->e->max_legs; i++) {
        leg *l = w->legs[i];
        if (!l) continue;
        if (l->conf < 0) solo_tick(w, l);
        if (l->la) {
            local_audio_tick(l->la);
            local_audio_state state;
            if (local_audio_take_changed(l->la, &state)) {
                engine_event ev = {.type = ENGINE_EVENT_LOCAL, .leg = l->id, .count = state};
                push(w, &ev);
            }
            continue;
        }
        leg_housekeeping(w, l, start);
    }
    uint32_t took = (uint32_t)(engine_mono_us() - start);
    if (took > w->tick_max_cur) w->tick_max_cur = took;
    if (took > w->st.tick_max_ever_us) w->st.tick_max_ever_us = took;
    if (w->st.ticks % TICKS_PER_SECOND ==
        0) { /* a new second: the longest tick is of this one and the last */
        w->tick_max_prev = w->tick_max_cur;
        w->tick_max_cur = 0;
    }
}

/* One timer period: a tick every PACES_PER_TICK periods, then every RTP leg's packets that are due.
 */
static void run_pace(worker *w) {
    if (w->paces++ % PACES_PER_TICK == 0) run_tick(w);
    for (unsigned i = 0; i < w->e->max_legs; i++) {
        leg *l = w->legs[i];
        if (l && !l->la && l->connected) pace_leg(w, l);
    }
}

/* Counts an SRTP/SRTCP packet that did not unprotect. */
static void srtp_refused(worker *w, leg *l, int rc) {
    if (rc == -EBADMSG) {
        l->st.dropped_auth++;
        w->st.dropped_auth++;
    } else if (rc == -EALREADY) {
        l->st.dropped_other++;
        w->st.dropped_other++;
    } else {
        l->st.dropped_malformed++;
        w->st.dropped_malformed++;
    }
}

static void handle_rtcp(worker *w, leg *l, uint8_t *buf, size_t n,
                        const struct sockaddr_storage *src, socklen_t slen, uint64_t now) {
    int from_peer = l->has_lock
                        ? engine_same_host(src, &l->locked)
                        : l->o.symmetric || (l->has_remote && engine_same_host(src, &l->remote));
    if (!from_peer) {
        l->st.dropped_foreign++;
        w->st.dropped_foreign++;
        return;
    }
    int rc;
    if (l->rx_sec && (rc = rtpsec_unprotect_rtcp(l->rx_sec, buf, &n)) != 0) {
        srtp_refused(w, l, rc);
        return;
    }
    rtcp_info info;
    if (rtcp_parse(buf, n, &info) != RTP_OK) {
        l->st.dropped_malformed++;
        w->st.dropped_malformed++;
        return;
    }
    l->rtcp_src = *src;
    l->rtcp_src_len = slen;
    l->has_rtcp_src = 1;
    if (info.has_sr && l->have_ssrc && info.ssrc == l->in_ssrc) {
        l->rx.last_sr = (uint32_t)(info.ntp >> 16);
        l->rx.last_sr_us = now;
    }
    for (int i = 0; i < info.n_blocks; i++)
        if (info.blocks[i].ssrc == l->out_ssrc) {
            l->st.remote_lost = info.blocks[i].lost > 0 ? (uint32_t)info.blocks[i].lost : 0;
            l->st.remote_jitter_ms = info.blocks[i].jitter / 8;
        }
}

static void handle_rtp(worker *w, leg *l, uint8_t *buf, size_t n,
                       const struct sockaddr_storage *src, socklen_t slen, uint64_t now) {
    if (rtp_is_rtcp(buf, n)) { /* RTCP multiplexed on the RTP port (RFC 5761) */
        handle_rtcp(w, l, buf, n, src, slen, now);
        return;
    }
    /* strict RTP: the first source from the signalled host (any host, if symmetric) is kept;
     * another one takes its place only when it has been silent for latch_quiet_ms, so a forged
     * packet cannot take a running stream */
    int locked = l->has_lock && engine_same_endpoint(src, &l->locked);
    int latch = !locked &&
                (l->o.symmetric || (l->has_remote && engine_same_host(src, &l->remote))) &&
                (!l->has_lock || now - l->last_rx_us >= (uint64_t)w->e->cfg.latch_quiet_ms * 1000u);
    /* the exact address and port of the SDP may always take the stream (media moved to it) */
    if (!locked && l->has_remote && engine_same_endpoint(src, &l->remote)) latch = 1;
    if (!locked && !latch) {
        l->st.dropped_foreign++;
        w->st.dropped_foreign++;
        return;
    }
    int rc;
    if (l->rx_sec && (rc = rtpsec_unprotect(l->rx_sec, buf, &n)) != 0) {
        srtp_refused(w, l, rc);
        return;
    }
    rtp_header h;
    if (rtp_parse(buf, n, &h) != RTP_OK) {
        l->st.dropped_malformed++;
        w->st.dropped_malformed++;
        return;
    }
    if (latch) {
        if (l->has_lock) l->st.relatches++;
        l->locked = *src;
        l->locked_len = slen;
        l->has_lock = 1;
    }
    if (!l->have_ssrc || h.ssrc != l->in_ssrc) {
        if (l->have_ssrc) l->st.ssrc_changes++;
        l->have_ssrc = 1;
        l->in_ssrc = h.ssrc;
        jitter_reset(l->jb);
        if (l->dec) g722_decoder_reset(l->dec);
        rtp_rx_init(&l->rx, h.ssrc, h.seq);
        rtp_dtmf_reset(&l->dtmf);
        dtmf_detector_reset(&l->tones);
    }
    uint32_t arrival = (uint32_t)(now * 8 / 1000); /* 8 kHz RTP clock for all our codecs */
    rtp_rx_update(&l->rx, h.seq, h.timestamp, arrival);
    l->last_rx_us = now;
    l->timed_out = 0;
    l->st.bytes_in += h.payload_len;
    if (l->o.dtmf_payload_type >= 0 && h.payload_type == l->o.dtmf_payload_type) {
        rtp_telephone_event ev;
        if (rtp_parse_telephone_event(h.payload, h.payload_len, &ev) != RTP_OK) {
            l->st.dropped_malformed++;
            w->st.dropped_malformed++;
            return;
        }
        char digit = rtp_dtmf_feed(&l->dtmf, h.ssrc, h.timestamp, &ev);
        digit = dtmf_sources_event(&l->keys, rtp_event_digit(ev.event), digit, now);
        if (digit) {
            engine_event out = {.type = ENGINE_EVENT_DTMF, .leg = l->id, .digit = digit};
            push(w, &out);
        }
        l->st.packets_in++;
        w->st.packets_in++;
        return;
    }
    if (l->o.direction & ENGINE_DIR_NO_RECEIVE) { /* accepted, and heard by nobody */
        l->st.packets_in++;
        w->st.packets_in++;
        return;
    }
    if (h.payload_type != l->o.payload_type || h.payload_len == 0 ||
        jitter_put(l->jb, h.seq, h.timestamp, h.payload, h.payload_len, (unsigned)h.payload_len,
                   arrival) != JITTER_OK) {
        l->st.dropped_other++;
        w->st.dropped_other++;
        return;
    }
    l->st.packets_in++;
    w->st.packets_in++;
}

/* When the kernel received datagram i of the last receive call, on the monotonic clock: its
 * timestamp's age (real time) taken from now (monotonic), within [now - MAX_QUEUED_US, now]. */
static uint64_t arrived(worker *w, int i, uint64_t now_mono, uint64_t now_real) {
    struct msghdr *h = &w->rx_msgs[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        uint64_t at = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        uint64_t age = at >= now_real ? 0 : now_real - at;
        return now_mono - (age < MAX_QUEUED_US ? age : MAX_QUEUED_US);
    }
    return now_mono;
}

/* Takes what one of the thread's sockets holds (key: the leg's id and which socket). */
static void receive(worker *w, uint64_t key) {
    uint32_t id = (uint32_t)(key >> 1);
    int rtcp = (int)(key & 1);
    /* the thread's own table: a leg that has moved to another thread or closed is not in it */
    uint32_t slot = id & 0xFFFF;
    leg *l = slot < w->e->max_legs ? w->legs[slot] : NULL;
    if (!l || l->id != id) return;
    int fd = rtcp ? l->rtcp_fd : l->rtp_fd;
    /* RECV_VLEN datagrams a call (one call when they are fewer), at most RECV_BATCH a timer period
     * so that a flood of one leg cannot starve the others (the kernel drops what overflows) */
    for (int taken = 0; taken < RECV_BATCH;) {
        struct mmsghdr *m = w->rx_msgs;
        for (int i = 0; i < RECV_VLEN; i++) {
            w->rx_iov[i] = (struct iovec){w->rx_buf[i], MAX_DATAGRAM};
            m[i].msg_hdr = (struct msghdr){.msg_name = &w->rx_src[i],
                                           .msg_namelen = sizeof w->rx_src[i],
                                           .msg_iov = &w->rx_iov[i],
                                           .msg_iovlen = 1,
                                           .msg_control = w->rx_cmsg[i],
                                           .msg_controllen = sizeof w->rx_cmsg[i]};
        }
        int got = recvmmsg(fd, m, RECV_VLEN, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        w->st.receive_calls++;
        uint64_t now = engine_mono_us(), real = real_us();
        for (int i = 0; i < got; i++) {
            if (!l->connected) { /* no SDP yet: nobody is entitled to send here */
                l->st.dropped_foreign++;
                w->st.dropped_foreign++;
                continue;
            }
            if (m[i].msg_hdr.msg_flags & MSG_TRUNC) { /* larger than any valid packet */
                l->st.dropped_malformed++;
                w->st.dropped_malformed++;
                continue;
            }
            uint64_t at = arrived(w, i, now, real);
            if (rtcp)
                handle_rtcp(w, l, w->rx_buf[i], m[i].msg_len, &w->rx_src[i],
                            m[i].msg_hdr.msg_namelen, at);
            else
                handle_rtp(w, l, w->rx_buf[i], m[i].msg_len, &w->rx_src[i],
                           m[i].msg_hdr.msg_namelen, at);
        }
        taken += got;
        if (got < RECV_VLEN) break; /* the socket is empty */
    }
}

/* Reads every socket of the thread's legs that holds datagrams. The thread is woken only by its
 * timer, not by each datagram: what came since the last period is read at once, with the time
 * the kernel received it, before the tick that mixes it. */
static void receive_ready(worker *w) {
    struct epoll_event evs[READY_EVENTS];
    /* each socket at most twice: a flooded one stays ready after its RECV_BATCH */
    for (unsigned rounds = 2 * (2 * w->n_legs / READY_EVENTS + 1); rounds > 0; rounds--) {
        int n = epoll_wait(w->sock_epfd, evs, READY_EVENTS, 0);
        for (int i = 0; i < n; i++) receive(w, evs[i].data.u64);
        if (n < READY_EVENTS) break;
    }
}

void *engine_media_thread(void *arg) {
    worker *w = arg;
    engine *e = w->e;
    if (e->cfg.rt_priority > 0) { /* best effort: needs CAP_SYS_NICE or an rtprio limit */
        struct sched_param sp = {.sched_priority = e->cfg.rt_priority};
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    }
    struct epoll_event evs[2]; /* the timer and the host's wake-up */
    while (!atomic_load(&e->stop)) {
        int n = epoll_wait(w->epfd, evs, 2, -1);
        for (int i = 0; i < n; i++) {
            uint64_t key = evs[i].data.u64;
            if (key == EV_WAKE) {
                uint64_t v;
                if (read(w->wakefd, &v, sizeof v) < 0) continue;
            } else if (key == EV_TIMER) {
                uint64_t exp = 0;
                if (read(w->tfd, &exp, sizeof exp) != (ssize_t)sizeof exp || exp == 0) continue;
                pthread_mutex_lock(&w->lock);
                receive_ready(w);
                if (exp > 1) { /* counted in 20 ms ticks, whatever the timer's period */
                    uint64_t before = w->late_paces / PACES_PER_TICK;
                    w->late_paces += exp - 1;
                    uint64_t late = w->late_paces / PACES_PER_TICK - before;
                    w->st.late_ticks += late;
                    w->late_pending += late;
                }
                for (uint64_t t = 0; t < exp && t < MAX_CATCHUP; t++) run_pace(w);
                uint64_t now = engine_mono_us();
                if (w->late_pending && now - w->last_overrun_us >= OVERRUN_REPORT_US) {
                    engine_event ev = {.type = ENGINE_EVENT_OVERRUN,
                                       .count = (uint32_t)w->late_pending};
                    push(w, &ev);
                    w->late_pending = 0;
                    w->last_overrun_us = now;
                }
                pthread_mutex_unlock(&w->lock);
            }
        }
        if (w->notify_pending) { /* set and read on this thread only */
            w->notify_pending = 0;
            if (e->cfg.notify) e->cfg.notify(e->cfg.notify_ctx);
        }
    }
    return NULL;
}
