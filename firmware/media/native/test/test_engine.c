/* Engine end to end on loopback, on three media threads: three phones whose legs open on three
 * threads and move to their conference's on joining each hear the others' tones and not their
 * own; DTMF, foreign and malformed packets, playback, mute, RTP timeout, stats; a leg moved to a
 * conference on another thread mid-call keeps its stream. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/g722.h"
#include "../src/rtp.h"
#include "check.h"
#include "loopback.h"
#include "tone.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECONDS_MAX 4
typedef struct {
    int fd;
    uint16_t port, engine_port;
    uint32_t leg;
    engine_codec codec;
    double freq;
    uint16_t seq;
    uint32_t ts, ssrc;
    g722_encoder *enc;
    g722_decoder *dec;
    int16_t *rx; /* decoded audio received */
    size_t rx_n;
    unsigned packets, seq_gaps, ts_gaps;
    int have_last;
    uint16_t last_seq;
    uint32_t last_ts;
} phone;

static atomic_int notified;
static void on_notify(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&notified, 1);
}

static size_t rate_of(const phone *p) {
    return p->codec == ENGINE_CODEC_G722 ? 16000 : 8000;
}

static void phone_send(phone *p, size_t tick, double amp) {
    uint8_t pkt[12 + 160];
    rtp_header h = {0};
    h.payload_type = (uint8_t)p->codec;
    h.seq = p->seq++;
    h.timestamp = p->ts;
    h.ssrc = p->ssrc;
    p->ts += 160;
    rtp_write_header(pkt, sizeof pkt, &h);
    int16_t pcm[320];
    size_t n = rate_of(p) / 50;
    tone_fill(pcm, n, p->freq, amp, (double)rate_of(p), tick * n);
    if (p->codec == ENGINE_CODEC_G722)
        g722_encode(p->enc, pcm, 320, pkt + 12);
    else if (p->codec == ENGINE_CODEC_PCMA)
        g711_alaw_encode_buf(pcm, 160, pkt + 12);
    else
        g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    send_to(p->fd, p->engine_port, pkt, sizeof pkt);
}

static void phone_receive(phone *p) {
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(p->fd, buf, sizeof buf, 0)) > 0) {
        rtp_header h;
        if (rtp_parse(buf, (size_t)n, &h) != RTP_OK || h.payload_len != 160) continue;
        if (p->have_last) {
            if (h.seq != (uint16_t)(p->last_seq + 1)) p->seq_gaps++;
            if (h.timestamp != p->last_ts + 160) p->ts_gaps++;
        }
        p->have_last = 1;
        p->last_seq = h.seq;
        p->last_ts = h.timestamp;
        p->packets++;
        size_t max = SECONDS_MAX * rate_of(p);
        if (p->rx_n + 320 > max) continue;
        if (p->codec == ENGINE_CODEC_G722)
            p->rx_n += g722_decode(p->dec, h.payload, 160, p->rx + p->rx_n);
        else if (p->codec == ENGINE_CODEC_PCMA)
            g711_alaw_decode_buf(h.payload, 160, p->rx + p->rx_n), p->rx_n += 160;
        else
            g711_ulaw_decode_buf(h.payload, 160, p->rx + p->rx_n), p->rx_n += 160;
    }
}

static void sleep_until(struct timespec *t, long add_ns) {
    t->tv_nsec += add_ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL);
}

/* Runs the phones for ticks ticks, sending (unless muted_amp == 0) and receiving. */
static void run(phone *ph, int n, size_t *tick, size_t ticks, double amp) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (size_t k = 0; k < ticks; k++, (*tick)++) {
        for (int i = 0; i < n; i++) phone_send(&ph[i], *tick, amp);
        sleep_until(&t, 20000000L);
        for (int i = 0; i < n; i++) phone_receive(&ph[i]);
    }
}

/* Tone levels in dB relative to a tone of amplitude amp, over the last `seconds` received. */
static double level_db(const phone *p, double f, double amp, double seconds) {
    size_t n = (size_t)(seconds * (double)rate_of(p));
    if (p->rx_n < n) return -200;
    double pw = goertzel(p->rx + p->rx_n - n, n, f, (double)rate_of(p));
    return 10 * log10(pw / (amp * amp / 4) + 1e-20);
}

/* Whether a thread of this process carries the name (/proc/self/task/<tid>/comm). */
static int thread_named(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f)) {
            comm[strcspn(comm, "\n")] = 0;
            found = strcmp(comm, name) == 0;
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Whether this system hands programs the kernel's receive timestamps (SO_TIMESTAMPNS): a datagram
 * sent to oneself comes with one. */
static int kernel_timestamps(void) {
    uint16_t port;
    int fd = udp_socket(&port), on = 1, found = 0;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    uint8_t b = 1, got;
    send_to(fd, port, &b, 1);
    _Alignas(8) uint8_t control[64];
    struct iovec iov = {&got, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    for (int tries = 0; tries < 100 && recvmsg(fd, &m, 0) < 0; tries++) usleep(1000);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) found = 1;
    close(fd);
    return found;
}

/* The media thread that runs the leg. */
static unsigned leg_thread(engine *e, uint32_t leg) {
    engine_leg_stats ls;
    return engine_get_leg_stats(e, leg, &ls) == 0 ? ls.thread : 999;
}

int main(void) {
    engine_config cfg = {0};
    cfg.bind_address = "127.0.0.1";
    cfg.port_min = 31000;
    cfg.port_max = 31199;
    cfg.notify = on_notify;
    cfg.media_threads = 3;
    engine *e = NULL;
    int rc = engine_create(&cfg, &e);
    if (!check(rc == 0, "engine starts (%d)", rc)) return check_done();
    engine_stats st0;
    engine_get_stats(e, &st0);
    check(st0.threads == 3, "three media threads run (%u)", st0.threads);
    check(thread_named(ENGINE_THREAD_NAME) && thread_named(ENGINE_THREAD_NAME "2") &&
              thread_named(ENGINE_THREAD_NAME "3"),
          "they are named %s, %s2 and %s3", ENGINE_THREAD_NAME, ENGINE_THREAD_NAME,
          ENGINE_THREAD_NAME);
    cfg.media_threads = ENGINE_MAX_THREADS + 1;
    engine *too_many = NULL;
    check(engine_create(&cfg, &too_many) == -EINVAL && !too_many,
          "more than %d media threads are refused", ENGINE_MAX_THREADS);

    phone ph[3] = {{0}};
    engine_codec codecs[3] = {ENGINE_CODEC_PCMU, ENGINE_CODEC_PCMA, ENGINE_CODEC_G722};
    double freqs[3] = {500, 1300, 2100};
    int opened = 1, even = 1;
    for (int i = 0; i < 3; i++) {
        phone *p = &ph[i];
        p->codec = codecs[i];
        p->freq = freqs[i];
        p->ssrc = 0x1000u + (uint32_t)i;
        p->seq = (uint16_t)(65500 + i); /* wraps during the test */
        p->ts = 0xFFFFF000u;
        p->enc = g722_encoder_create();
        p->dec = g722_decoder_create();
        p->rx = calloc(SECONDS_MAX * 16000, sizeof(int16_t));
        p->fd = udp_socket(&p->port);
        engine_leg_options o = {.codec = p->codec,
                                .payload_type = (uint8_t)p->codec,
                                .dtmf_payload_type = 101,
                                .ptime_ms = 20};
        opened &= engine_open_leg(e, &o, &p->leg, &p->engine_port) == 0;
        even &= p->engine_port % 2 == 0 && p->engine_port >= 31000 && p->engine_port < 31200;
        opened &= engine_connect_leg(e, p->leg, "127.0.0.1", p->port, &o) == 0;
    }
    unsigned spread[3];
    for (int i = 0; i < 3; i++) spread[i] = leg_thread(e, ph[i].leg);
    check(spread[0] != spread[1] && spread[1] != spread[2] && spread[0] != spread[2],
          "three new legs open on the three threads, the least loaded first (%u, %u, %u)",
          spread[0], spread[1], spread[2]);
    for (int i = 0; i < 3; i++) opened &= engine_join(e, ph[i].leg, 7) == 0;
    check(opened, "three legs (PCMU, PCMA, G.722) open, connect and join one conference");
    unsigned conf_thread = leg_thread(e, ph[0].leg);
    check(leg_thread(e, ph[1].leg) == conf_thread && leg_thread(e, ph[2].leg) == conf_thread,
          "joining moved them to their conference's thread (%u)", conf_thread);
    check(even, "legs got even ports in the range (%u, %u, %u)", ph[0].engine_port,
          ph[1].engine_port, ph[2].engine_port);

    size_t tick = 0;
    run(ph, 3, &tick, 75, 8000); /* 1.5 s */
    int ok_others = 1, ok_own = 1;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            double db = level_db(&ph[i], freqs[j], 8000, 1.0);
            if (i == j) {
                if (db > -35) ok_own = 0;
                printf("# leg %d hears its own %.0f Hz at %.1f dB\n", i, freqs[j], db);
            } else {
                if (db < -1.5 || db > 1.5) ok_others = 0;
                printf("# leg %d hears %.0f Hz at %.1f dB\n", i, freqs[j], db);
            }
        }
    }
    check(ok_others, "each leg hears both other tones at their level (within 1.5 dB)");
    check(ok_own, "no leg hears its own tone (below -35 dB)");
    int cont = 1;
    for (int i = 0; i < 3; i++)
        cont &= ph[i].packets >= 60 && ph[i].seq_gaps == 0 && ph[i].ts_gaps == 0;
    check(cont, "output sequence and timestamps are continuous (%u/%u/%u packets)", ph[0].packets,
          ph[1].packets, ph[2].packets);
    engine_leg_stats ls;
    engine_get_leg_stats(e, ph[0].leg, &ls);
    check(ls.packets_in >= 70 && ls.lost == 0,
          "leg stats: %llu packets in, %u lost, jitter %u ms, buffer %u ms",
          (unsigned long long)ls.packets_in, ls.lost, ls.jitter_ms, ls.buffer_ms);

    /* Mute: the others stop hearing leg 0. */
    engine_set_muted(e, ph[0].leg, 1);
    run(ph, 3, &tick, 40, 8000);
    double muted = level_db(&ph[1], freqs[0], 8000, 0.5),
           still = level_db(&ph[1], freqs[2], 8000, 0.5);
    check(muted < -35 && still > -1.5,
          "muted leg is not heard (%.1f dB), others still are (%.1f dB)", muted, still);
    engine_set_muted(e, ph[0].leg, 0);

    /* DTMF: start, updates and three end packets of one key press give one digit. */
    uint8_t ev[16] = {0};
    for (int k = 0; k < 6; k++) {
        rtp_header h = {0};
        h.payload_type = 101;
        h.seq = ph[0].seq++;
        h.timestamp = 123456;
        h.ssrc = ph[0].ssrc;
        h.marker = k == 0;
        rtp_write_header(ev, sizeof ev, &h);
        ev[12] = 5;
        ev[13] = (uint8_t)(k >= 3 ? 0x80 | 10 : 10);
        ev[14] = 0;
        ev[15] = (uint8_t)(160 * (k + 1));
        send_to(ph[0].fd, ph[0].engine_port, ev, 16);
    }
    /* A stranger's packet and a malformed one from the phone. */
    uint16_t sp;
    int stranger = udp_socket(&sp);
    uint8_t pkt[172] = {0x80, 0, 0, 1};
    send_to(stranger, ph[0].engine_port, pkt, sizeof pkt);
    send_to(ph[0].fd, ph[0].engine_port, pkt, 5);
    pkt[0] = 0x8F; /* 15 CSRCs in 172 bytes is fine; an extension past the end is not */
    pkt[0] = 0x90;
    pkt[13] = 0;
    pkt[14] = 0xFF;
    pkt[15] = 0xFF;
    send_to(ph[0].fd, ph[0].engine_port, pkt, 20);
    static uint8_t huge[4000]; /* larger than any RTP packet the engine takes */
    memcpy(huge, pkt, 12);
    huge[0] = 0x80;
    send_to(ph[0].fd, ph[0].engine_port, huge, sizeof huge);

    /* Playback into leg 1, mixed with the conference; a 100 ms beep. */
    int16_t beep[800];
    tone_fill(beep, 800, 800, 6000, 8000, 0);
    uint32_t snd = 0, pb = 0;
    check(engine_add_sound(e, beep, 800, 8000, &snd) == 0, "sound added");
    check(engine_play(e, ENGINE_TARGET_LEG, ph[1].leg, snd, 0, &pb) == 0 && pb != 0,
          "playback started");
    check(engine_play(e, ENGINE_TARGET_CONFERENCE, 999, snd, 0, NULL) == -ENOENT,
          "no playback into an unknown conference");

    /* A leg that never sends: RTP timeout. */
    engine_leg_options quiet = {
        .codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 20, .rtp_timeout_ms = 200};
    uint32_t qleg;
    uint16_t qport;
    engine_open_leg(e, &quiet, &qleg, &qport);
    engine_connect_leg(e, qleg, "127.0.0.1", sp, &quiet);
    unsigned quiet_thread = leg_thread(e, qleg);
    check(quiet_thread != conf_thread,
          "a new leg opens on a thread other than the busy conference's (%u)", quiet_thread);

    run(ph, 3, &tick, 25, 8000);
    engine_event evs[64];
    size_t nev = engine_poll_events(e, evs, 64);
    int digits = 0, played = 0, timeouts = 0;
    char digit = 0;
    for (size_t i = 0; i < nev; i++) {
        if (evs[i].type == ENGINE_EVENT_DTMF && evs[i].leg == ph[0].leg)
            digits++, digit = evs[i].digit;
        if (evs[i].type == ENGINE_EVENT_PLAYED && evs[i].playback == pb && evs[i].leg == ph[1].leg)
            played++;
        if (evs[i].type == ENGINE_EVENT_RTP_TIMEOUT && evs[i].leg == qleg) timeouts++;
    }
    check(digits == 1 && digit == '5', "one DTMF digit '5' from six telephone-event packets (%d)",
          digits);
    check(played == 1, "playback finished event");
    check(timeouts == 1, "RTP timeout event for the silent leg");
    check(atomic_load(&notified) > 0, "host was notified of events");
    double beep_db = -200;
    { /* the beep was in leg 1's stream: look for 800 Hz over the last 0.5 s */
        size_t n = 4000;
        double pw = goertzel(ph[1].rx + ph[1].rx_n - n, n, 800, 8000);
        beep_db = 10 * log10(pw / (6000.0 * 6000 / 4) + 1e-20);
    }
    check(beep_db > -20, "leg 1 heard the beep (%.1f dB over 0.5 s)", beep_db);
    engine_stats st;
    engine_get_stats(e, &st);
    check(st.dropped_foreign >= 1 && st.dropped_malformed >= 3,
          "stranger counted foreign (%llu), bad and oversized packets malformed (%llu)",
          (unsigned long long)st.dropped_foreign, (unsigned long long)st.dropped_malformed);
    check(st.legs == 4 && st.conferences == 1 && st.ticks > 100 && st.packets_out > 400,
          "engine stats: %u legs, %u conference, %llu ticks, %llu late, %llu out, max tick %u us",
          st.legs, st.conferences, (unsigned long long)st.ticks, (unsigned long long)st.late_ticks,
          (unsigned long long)st.packets_out, st.tick_max_us);

    engine_stats again;
    engine_get_stats(e, &again);
    check(st.tick_max_us > 0 && again.tick_max_us > 0 &&
              again.tick_max_ever_us >= again.tick_max_us,
          "every reader sees the longest tick: %u us, read again %u us (since the start %u us)",
          st.tick_max_us, again.tick_max_us, again.tick_max_ever_us);

    /* Jitter is measured from when the kernel received each packet, not from when the media thread
     * read it on its timer: a phone sending 15 and 25 ms apart by turns has 5 ms of jitter. */
    struct timespec uneven;
    clock_gettime(CLOCK_MONOTONIC, &uneven);
    for (int k = 0; k < 100; k++, tick++) {
        phone_send(&ph[1], tick, 8000);
        sleep_until(&uneven, k % 2 ? 25000000L : 15000000L);
        for (int i = 0; i < 3; i++) phone_receive(&ph[i]);
    }
    engine_get_leg_stats(e, ph[1].leg, &ls);
    if (kernel_timestamps())
        check(ls.jitter_ms >= 3 && ls.jitter_ms <= 7,
              "a phone sending 15 and 25 ms apart by turns has 3 to 7 ms of jitter (%u ms)",
              ls.jitter_ms);
    else /* qemu-user does not pass SO_TIMESTAMPNS on: arrival is when the thread read it */
        check(ls.jitter_ms <= 12,
              "without the kernel's timestamps (emulated), jitter is that of the 10 ms read grid "
              "(%u ms)",
              ls.jitter_ms);

    /* A leg moved mid-call to a conference on another thread keeps its stream. */
    check(engine_join(e, qleg, 8) == 0 && leg_thread(e, qleg) == quiet_thread,
          "a conference made by a leg's join stays on that leg's thread (%u)", quiet_thread);
    unsigned before_packets = ph[2].packets;
    check(engine_join(e, ph[2].leg, 8) == 0 && leg_thread(e, ph[2].leg) == quiet_thread,
          "a leg joining that conference moves from thread %u to %u", conf_thread, quiet_thread);
    run(ph, 3, &tick, 50, 8000);
    check(ph[2].packets - before_packets >= 45 && ph[2].seq_gaps == 0 && ph[2].ts_gaps == 0,
          "the moved leg's stream went on without a gap (%u packets in 1 s)",
          ph[2].packets - before_packets);
    double gone = level_db(&ph[0], freqs[2], 8000, 0.5),
           stays = level_db(&ph[0], freqs[1], 8000, 0.5);
    check(
        gone < -35 && stays > -1.5,
        "conference 7 no longer hears the moved leg (%.1f dB), still hears its other member (%.1f "
        "dB)",
        gone, stays);
    engine_get_stats(e, &st);
    check(st.conferences == 2, "two conferences now (%u)", st.conferences);

    /* Leaving and closing. */
    check(engine_leave(e, ph[2].leg) == 0, "leave");
    check(engine_close_leg(e, ph[0].leg) == 0 && engine_close_leg(e, ph[0].leg) == -ENOENT,
          "close, and a closed leg is gone");
    check(engine_join(e, ph[0].leg, 7) == -ENOENT, "a closed leg cannot join");
    engine_leg_options bad = {.codec = ENGINE_CODEC_PCMU, .dtmf_payload_type = -1, .ptime_ms = 25};
    uint32_t bl;
    check(engine_open_leg(e, &bad, &bl, NULL) == -EINVAL, "a bad ptime is refused");
    engine_destroy(e);
    for (int i = 0; i < 3; i++) {
        close(ph[i].fd);
        free(ph[i].rx);
        g722_encoder_destroy(ph[i].enc);
        g722_decoder_destroy(ph[i].dec);
    }
    close(stranger);
    return check_done();
}
