/* The local leg through real ALSA, without a sound card: ALSA's file plugin reads "the
 * microphone" from a tone file and writes "the speaker" to a file (or a FIFO), over its null
 * device. A phone on loopback RTP and the local leg share a conference: each hears the other and
 * not itself. A device that does not exist is reported and retried; a speaker that goes away
 * (its FIFO's reader closes, its directory disappears) is reported as lost and comes back. */
#define _GNU_SOURCE
#include "../src/engine.h"
#include "../src/g711.h"
#include "../src/rtp.h"
#include "check.h"
#include "tone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIC_HZ   700.0  /* whole cycles per 20 ms frame: a dropped frame leaves no phase jump */
#define PHONE_HZ 1000.0 /* likewise */
#define AMP      8000.0
#define RX_MAX   (8000 * 4)

static char dir[256];

typedef struct {
    int fd;
    uint16_t engine_port;
    uint16_t seq;
    uint32_t ts;
    int16_t rx[RX_MAX];
    size_t rx_n;
} phone;

static atomic_int local_events, last_state = -1;
static engine *eng;
static void on_notify(void *ctx) {
    (void)ctx;
}

/* Drains the engine's events, counting the local leg's. */
static void drain(void) {
    engine_event ev[64];
    size_t n;
    while ((n = engine_poll_events(eng, ev, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            if (ev[i].type == ENGINE_EVENT_LOCAL) {
                atomic_fetch_add(&local_events, 1);
                atomic_store(&last_state, (int)ev[i].count);
            }
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void write_tone(const char *path, double seconds) {
    size_t n = (size_t)(seconds * LOCAL_AUDIO_RATE);
    int16_t *pcm = malloc(n * sizeof *pcm);
    tone_fill(pcm, n, MIC_HZ, AMP, LOCAL_AUDIO_RATE, 0);
    FILE *f = fopen(path, "wb");
    fwrite(pcm, sizeof *pcm, n, f);
    fclose(f);
    free(pcm);
}

static int phone_open(phone *p) {
    memset(p, 0, sizeof *p);
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(p->fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(p->fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

static void phone_tick(phone *p, size_t tick) {
    uint8_t pkt[12 + 160];
    rtp_header h = {0};
    h.payload_type = 0;
    h.seq = p->seq++;
    h.timestamp = p->ts;
    h.ssrc = 0x1234;
    p->ts += 160;
    rtp_write_header(pkt, sizeof pkt, &h);
    int16_t pcm[160];
    tone_fill(pcm, 160, PHONE_HZ, AMP, 8000, tick * 160);
    g711_ulaw_encode_buf(pcm, 160, pkt + 12);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(p->engine_port)};
    sendto(p->fd, pkt, sizeof pkt, 0, (struct sockaddr *)&a, sizeof a);
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(p->fd, buf, sizeof buf, 0)) > 0) {
        if (rtp_parse(buf, (size_t)n, &h) != RTP_OK || h.payload_len != 160) continue;
        if (p->rx_n + 160 > RX_MAX) { /* keep the latest */
            memmove(p->rx, p->rx + 160, (RX_MAX - 160) * sizeof p->rx[0]);
            p->rx_n -= 160;
        }
        g711_ulaw_decode_buf(h.payload, 160, p->rx + p->rx_n);
        p->rx_n += 160;
    }
}

/* Runs the phone for ms milliseconds of 20 ms ticks, draining events as it goes. */
static void run(phone *p, size_t *tick, long ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (long k = 0; k < ms / 20; k++, (*tick)++) {
        if (p) phone_tick(p, *tick);
        t.tv_nsec += 20000000L;
        if (t.tv_nsec >= 1000000000L) t.tv_nsec -= 1000000000L, t.tv_sec++;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        drain();
    }
}

static double db(const int16_t *x, size_t n, double f, double rate) {
    return 10 * log10(goertzel(x, n, f, rate) / (AMP * AMP / 4) + 1e-20);
}

/* The last `samples` of the speaker file, or 0 if it holds fewer. */
static size_t speaker_tail(const char *path, int16_t *out, size_t samples) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    size_t got = 0;
    if (size >= (long)(samples * 2)) {
        fseek(f, size - (long)(samples * 2), SEEK_SET);
        got = fread(out, 2, samples, f);
    }
    fclose(f);
    return got;
}

static local_audio_status status_of(uint32_t leg) {
    local_audio_status st;
    memset(&st, 0, sizeof st);
    engine_get_local_status(eng, leg, &st);
    return st;
}

/* Waits up to ms for the leg to reach state. */
static int wait_state(uint32_t leg, local_audio_state state, long ms) {
    for (long t = 0; t < ms; t += 20) {
        drain();
        if (status_of(leg).state == state) return 1;
        sleep_ms(20);
    }
    return 0;
}

/* A FIFO's reader: counts the bytes "the speaker" received. */
typedef struct {
    char path[300];
    atomic_long bytes;
    atomic_int stop;
    pthread_t thread;
} reader;

/* Opens the FIFO for reading (waiting for its writer) and reads until stopped or the writer
 * closes; closing the read end is what the writer notices. */
static void *open_and_read(void *arg) {
    reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    if (fd < 0) return NULL;
    char buf[4096];
    ssize_t n;
    while (!atomic_load(&r->stop) && (n = read(fd, buf, sizeof buf)) > 0)
        atomic_fetch_add(&r->bytes, n);
    close(fd);
    return NULL;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as in Node: a write to a closed FIFO fails with EPIPE */
    snprintf(dir, sizeof dir, "/tmp/confbox-local-XXXXXX");
    if (!mkdtemp(dir)) return check(0, "temporary directory"), check_done();
    char path[400], conf[2048];
    snprintf(path, sizeof path, "%s/dev", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/dev/mic.raw", dir);
    write_tone(path, 30);
    snprintf(path, sizeof path, "%s/dev/speaker.fifo", dir);
    mkfifo(path, 0600);
    snprintf(conf, sizeof conf,
             "pcm.test_mic { type file slave.pcm { type null } file \"/dev/null\" "
             "infile \"%s/dev/mic.raw\" format \"raw\" }\n"
             "pcm.test_speaker { type file slave.pcm { type null } file \"%s/speaker.raw\" "
             "format \"raw\" }\n"
             "pcm.test_fifo { type file slave.pcm { type null } file \"%s/dev/speaker.fifo\" "
             "format \"raw\" }\n"
             "pcm.test_stuck { type file slave.pcm { type null } file \"%s/stuck.fifo\" "
             "format \"raw\" }\n",
             dir, dir, dir, dir);
    snprintf(path, sizeof path, "%s/asoundrc", dir);
    write_file(path, conf);
    setenv("ALSA_CONFIG_PATH", path, 1);

    engine_config cfg = {.port_min = 43000, .port_max = 43099, .notify = on_notify};
    int rc = engine_create(&cfg, &eng);
    if (!check(rc == 0, "engine starts (%d)", rc)) return check_done();

    /* --- a phone and the local leg in one conference --- */
    phone *ph = calloc(1, sizeof *ph);
    uint16_t phone_port = (uint16_t)phone_open(ph);
    engine_leg_options o = {
        .codec = ENGINE_CODEC_PCMU, .payload_type = 0, .dtmf_payload_type = -1, .ptime_ms = 20};
    uint32_t pleg, lleg;
    check(engine_open_leg(eng, &o, &pleg, &ph->engine_port) == 0 &&
              engine_connect_leg(eng, pleg, "127.0.0.1", phone_port, NULL) == 0,
          "a phone's leg opens and connects");
    local_audio_config dev = {.capture = "test_mic", .playback = "test_speaker"};
    rc = engine_open_local_leg(eng, &dev, &lleg);
    check(rc == 0, "a local leg opens (%d)", rc);
    int ok = wait_state(lleg, LOCAL_AUDIO_OK, 5000);
    local_audio_status st = status_of(lleg);
    check(ok, "its devices open: %s", st.message);
    check(strstr(st.message, "test_mic") && strstr(st.message, "test_speaker") &&
              st.capture_channels == 1 && st.playback_channels == 1,
          "the status names both devices, mono: %s", st.message);
    check(engine_join(eng, pleg, 1) == 0 && engine_join(eng, lleg, 1) == 0,
          "both join conference 1");
    size_t tick = 0;
    run(ph, &tick, 2500);
    check(atomic_load(&local_events) >= 1 && atomic_load(&last_state) == LOCAL_AUDIO_OK,
          "the host heard of the change to OK (%d events)", atomic_load(&local_events));
    size_t n = 8000; /* the last second */
    double hears_mic = db(ph->rx + ph->rx_n - n, n, MIC_HZ, 8000);
    double hears_self = db(ph->rx + ph->rx_n - n, n, PHONE_HZ, 8000);
    check(ph->rx_n >= n && fabs(hears_mic) < 1.5,
          "the phone hears the microphone's %.0f Hz at its level (%.1f dB)", MIC_HZ, hears_mic);
    check(hears_self < -35, "the phone does not hear itself (%.1f dB)", hears_self);
    int16_t *spk = calloc(LOCAL_AUDIO_RATE, sizeof *spk);
    snprintf(path, sizeof path, "%s/speaker.raw", dir);
    size_t got = speaker_tail(path, spk, LOCAL_AUDIO_RATE);
    double spk_phone = db(spk, got, PHONE_HZ, LOCAL_AUDIO_RATE);
    double spk_mic = db(spk, got, MIC_HZ, LOCAL_AUDIO_RATE);
    check(got == LOCAL_AUDIO_RATE && fabs(spk_phone) < 1.5,
          "the speaker plays the phone's %.0f Hz at its level (%.1f dB)", PHONE_HZ, spk_phone);
    check(spk_mic < -35, "the speaker does not play the microphone (%.1f dB)", spk_mic);
    st = status_of(lleg);
    check(st.captured >= 100 && st.played >= 100 && st.capture_dropped <= st.captured / 20 &&
              st.xruns == 0,
          "counters: %llu frames captured, %llu played, %llu and %llu dropped, %llu xruns",
          (unsigned long long)st.captured, (unsigned long long)st.played,
          (unsigned long long)st.capture_dropped, (unsigned long long)st.playback_dropped,
          (unsigned long long)st.xruns);
    check(engine_set_muted(eng, lleg, 1) == 0, "the local leg mutes");
    run(ph, &tick, 1000);
    n = 4000;
    double muted = db(ph->rx + ph->rx_n - n, n, MIC_HZ, 8000);
    check(muted < -35, "a muted microphone is not heard (%.1f dB)", muted);
    check(engine_connect_leg(eng, lleg, "127.0.0.1", 5000, NULL) == -EINVAL,
          "a local leg has no RTP to connect");
    check(engine_get_local_status(eng, pleg, &st) == -EINVAL, "an RTP leg has no local status");
    /* The echo canceller is switched on and off on the running local leg, never on an RTP leg. */
    echo_cancel_config echo = {.tail_ms = 100, .delay_ms = 30, .echo_suppress = -40};
    if (echo_cancel_unavailable()) {
        check_skip("echo cancellation: %s", echo_cancel_unavailable());
    } else {
        check(engine_local_echo_active(eng, lleg) == 0 &&
                  engine_set_local_echo(eng, lleg, &echo) == 0 &&
                  engine_local_echo_active(eng, lleg) == 1,
              "the local leg cancels echo once asked to");
        check(engine_set_muted(eng, lleg, 0) == 0, "the local leg unmutes");
        run(ph, &tick, 1000);
        n = 4000;
        double through = db(ph->rx + ph->rx_n - n, n, MIC_HZ, 8000);
        check(through > -30, "the microphone is still heard through the canceller (%.1f dB)",
              through);
        check(engine_set_local_echo(eng, lleg, NULL) == 0 &&
                  engine_local_echo_active(eng, lleg) == 0,
              "and stops when told");
    }
    check(engine_set_local_echo(eng, pleg, &echo) == -EINVAL &&
              engine_local_echo_active(eng, 999999) == -ENOENT,
          "an RTP leg has no echo canceller; an unknown leg is not found");
    local_audio_config none = {0};
    uint32_t bad;
    check(engine_open_local_leg(eng, &none, &bad) == -EINVAL, "a local leg needs a device");
    check(engine_close_leg(eng, lleg) == 0 && engine_get_local_status(eng, lleg, &st) == -ENOENT,
          "the local leg closes");

    /* --- a device that does not exist --- */
    local_audio_config missing = {.capture = "confbox_no_such_device",
                                  .playback = "test_speaker",
                                  .retry_min_ms = 50,
                                  .retry_max_ms = 200};
    check(engine_open_local_leg(eng, &missing, &lleg) == 0, "a leg for a missing device opens");
    check(wait_state(lleg, LOCAL_AUDIO_UNAVAILABLE, 5000), "it reports itself unavailable");
    st = status_of(lleg);
    check(strstr(st.message, "confbox_no_such_device") != NULL && st.error < 0,
          "the message names the device: %s", st.message);
    sleep_ms(1000);
    st = status_of(lleg);
    check(st.attempts >= 4 && st.retry_in_ms <= 200 && st.state == LOCAL_AUDIO_UNAVAILABLE,
          "it is retried with back-off (%u attempts, next in %u ms)", st.attempts, st.retry_in_ms);
    engine_close_leg(eng, lleg);

    /* --- a speaker that goes away and comes back --- */
    reader r1 = {.bytes = 0};
    snprintf(r1.path, sizeof r1.path, "%s/dev/speaker.fifo", dir);
    pthread_create(&r1.thread, NULL, open_and_read, &r1);
    local_audio_config fifo = {
        .capture = "test_mic", .playback = "test_fifo", .retry_min_ms = 100, .retry_max_ms = 400};
    check(engine_open_local_leg(eng, &fifo, &lleg) == 0, "a leg for a speaker on a FIFO opens");
    ok = wait_state(lleg, LOCAL_AUDIO_OK, 5000);
    check(ok, "its devices open: %s", status_of(lleg).message);
    sleep_ms(500);
    long before = atomic_load(&r1.bytes);
    check(before > 0, "the speaker receives audio (%ld bytes)", before);
    char gone[400];
    snprintf(path, sizeof path, "%s/dev", dir);
    snprintf(gone, sizeof gone, "%s/unplugged", dir);
    rename(path, gone); /* the device's files disappear, and its reader with them */
    atomic_store(&r1.stop, 1);
    pthread_join(r1.thread, NULL);
    check(wait_state(lleg, LOCAL_AUDIO_UNAVAILABLE, 5000), "an unplugged speaker is reported");
    st = status_of(lleg);
    check(strstr(st.message, "lost") != NULL || strstr(st.message, "cannot be opened") != NULL,
          "the message says so: %s", st.message);
    sleep_ms(800);
    st = status_of(lleg);
    check(st.state == LOCAL_AUDIO_UNAVAILABLE && st.attempts >= 2,
          "reopening is tried while it is away (%u attempts): %s", st.attempts, st.message);
    reader r2 = {.bytes = 0};
    snprintf(r2.path, sizeof r2.path, "%s/dev/speaker.fifo", dir);
    rename(gone, path); /* plugged in again */
    pthread_create(&r2.thread, NULL, open_and_read, &r2);
    ok = wait_state(lleg, LOCAL_AUDIO_OK, 5000);
    check(ok, "it comes back: %s", status_of(lleg).message);
    sleep_ms(500);
    check(atomic_load(&r2.bytes) > 0, "the speaker receives audio again (%ld bytes)",
          atomic_load(&r2.bytes));
    engine_close_leg(eng, lleg);
    atomic_store(&r2.stop, 1);
    pthread_join(r2.thread, NULL);

    /* --- a device stuck in its driver (here: a FIFO nobody reads blocks its opening) --- */
    snprintf(path, sizeof path, "%s/stuck.fifo", dir);
    mkfifo(path, 0600);
    local_audio_config stuck = {.playback = "test_stuck"};
    check(engine_open_local_leg(eng, &stuck, &lleg) == 0, "a leg for a device that hangs opens");
    sleep_ms(300);
    check(status_of(lleg).state == LOCAL_AUDIO_OPENING, "its device thread is stuck opening it");
    check(engine_close_leg(eng, lleg) == 0 && engine_get_local_status(eng, lleg, &st) == -ENOENT,
          "closing the leg returns all the same: the engine is not held up by the driver");
    int unblock = open(path, O_RDONLY | O_NONBLOCK); /* the stuck thread finishes and frees */
    sleep_ms(500);
    close(unblock);

    engine_close_leg(eng, pleg);
    engine_destroy(eng);
    close(ph->fd);
    free(ph);
    free(spk);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) check(0, "remove %s", dir);
    return check_done();
}
