/* Mixer kernel benchmark: ns per member-frame of the real mixer (mixer_put, mixer_mix,
 * mixer_get for every member) against a memcpy of the same frames, 8 kHz, 20 ms frames; and the
 * mixer with each member's talk detection (talk_detect) and in-band key detection (dtmf_detect) as
 * the engine runs them.
 *
 *   bench_mixer [members[:talkers]]...      (default: 3 32, everybody talking)
 *   bench_mixer --count TICKS mixer|memcpy members[:talkers]
 *       runs exactly TICKS ticks of the mixer (or of the memcpy baseline) untimed, for an
 *       instruction counter (valgrind, qemu) to divide by TICKS * members
 *
 * Prints one line per case, for test/bench/media.bench.ts to parse:
 *   mixer members=<n> talkers=<t> ticks=<k> mixer_ns=<ns per member-frame> memcpy_ns=<...>
 *         talk_ns=<mixer and talk detection, ns per member-frame>
 *         keys_ns=<mixer, talk detection and in-band key (DTMF) detection, ns per member-frame>
 * Each figure is the median of REPEATS timed runs of at least RUN_NS each. The input frames
 * come from the xorshift32 generator that media.bench.ts also uses for its TypeScript mixer. */
#define _GNU_SOURCE
#include "dtmf_detect.h"
#include "mixer.h"
#include "talk_detect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME   160 /* 20 ms at 8 kHz */
#define RING    16  /* distinct input frames per member, cycled */
#define REPEATS 7
#define RUN_NS  100000000ll /* 100 ms per timed run */
#define LEVEL   4000        /* uniform noise in [-LEVEL, LEVEL]: sums of many reach the limiter */

/* Keeps the compiler from dropping or hoisting work whose result is otherwise unused. */
#define CLOBBER() __asm__ volatile("" ::: "memory")

static volatile int32_t sink;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* xorshift32; the same sequence as xorshift32() in media.bench.ts, restarted for every case. */
#define SEED 0x12345678u
static uint32_t rng;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int members, talkers;
    int16_t (*in)[RING][FRAME]; /* [members] */
    int16_t (*out)[FRAME];      /* [members]: memcpy destination */
    mixer *mx;
    int *ids;
    talk_detector *talk; /* [members] */
    dtmf_detector *keys; /* [members] */
} bench_case;

/* One tick of the real mixer: talkers put, one mix, every member gets its frame. */
static int32_t mixer_tick(bench_case *c, long t) {
    int32_t acc = 0;
    for (int m = 0; m < c->talkers; m++) mixer_put(c->mx, c->ids[m], c->in[m][t % RING]);
    mixer_mix(c->mx);
    for (int m = 0; m < c->members; m++) {
        int shared;
        const int16_t *f = mixer_get(c->mx, c->ids[m], NULL, &shared);
        acc += f[t % FRAME];
    }
    return acc;
}

/* The engine's tick with talk detection: the mixer, and every member's frame measured. */
static int32_t talk_tick(bench_case *c, long t) {
    int32_t acc = mixer_tick(c, t);
    for (int m = 0; m < c->members; m++)
        acc += (int32_t)talk_detect(&c->talk[m], c->in[m][t % RING], FRAME);
    return acc;
}

/* The engine's tick with talk and key detection: every member's frame also listened to for keys. */
static int32_t keys_tick(bench_case *c, long t) {
    int32_t acc = talk_tick(c, t);
    for (int m = 0; m < c->members; m++)
        acc += dtmf_detect(&c->keys[m], c->in[m][t % RING], FRAME, 8000);
    return acc;
}

/* The baseline: each member's frame copied once. */
static int32_t memcpy_tick(bench_case *c, long t) {
    int32_t acc = 0;
    for (int m = 0; m < c->members; m++) {
        memcpy(c->out[m], c->in[m][t % RING], sizeof c->out[m]);
        CLOBBER();
        acc += c->out[m][t % FRAME];
    }
    return acc;
}

/* Ticks that take about RUN_NS, found by doubling. */
static long calibrate(bench_case *c, int32_t (*tick)(bench_case *, long)) {
    long ticks = 64;
    for (;;) {
        int64_t t0 = now_ns();
        int32_t acc = 0;
        for (long t = 0; t < ticks; t++) {
            acc += tick(c, t);
            CLOBBER();
        }
        sink = acc;
        if (now_ns() - t0 >= RUN_NS / 4 || ticks > (1l << 28)) return ticks * 4;
        ticks *= 2;
    }
}

/* Median ns per member-frame over REPEATS runs of ticks ticks. */
static double measure(bench_case *c, int32_t (*tick)(bench_case *, long), long ticks) {
    int64_t runs[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        int32_t acc = 0;
        int64_t t0 = now_ns();
        for (long t = 0; t < ticks; t++) {
            acc += tick(c, t);
            CLOBBER();
        }
        runs[r] = now_ns() - t0;
        sink = acc;
    }
    qsort(runs, REPEATS, sizeof runs[0], cmp_i64);
    return (double)runs[REPEATS / 2] / ((double)ticks * c->members);
}

static int setup_case(bench_case *c, int members, int talkers);
static void free_case(bench_case *c);

static int run_case(int members, int talkers) {
    bench_case c;
    if (setup_case(&c, members, talkers) != 0) return 1;
    long mix_ticks = calibrate(&c, mixer_tick);
    long copy_ticks = calibrate(&c, memcpy_tick);
    double mix_ns = measure(&c, mixer_tick, mix_ticks);
    double copy_ns = measure(&c, memcpy_tick, copy_ticks);
    double talk_ns = measure(&c, talk_tick, mix_ticks);
    double keys_ns = measure(&c, keys_tick, mix_ticks);
    printf("mixer members=%d talkers=%d ticks=%ld mixer_ns=%.2f memcpy_ns=%.3f talk_ns=%.2f "
           "keys_ns=%.2f\n",
           members, talkers, mix_ticks, mix_ns, copy_ns, talk_ns, keys_ns);
    fflush(stdout);
    free_case(&c);
    return 0;
}

/* Sets up a case: its frames from the shared generator, its mixer and talk detectors. */
static int setup_case(bench_case *c, int members, int talkers) {
    *c = (bench_case){members, talkers, NULL, NULL, NULL, NULL, NULL, NULL};
    rng = SEED;
    c->in = malloc((size_t)members * sizeof *c->in);
    c->out = malloc((size_t)members * sizeof *c->out);
    c->ids = malloc((size_t)members * sizeof *c->ids);
    c->mx = mixer_create(FRAME);
    c->talk = malloc((size_t)members * sizeof *c->talk);
    c->keys = malloc((size_t)members * sizeof *c->keys);
    if (!c->in || !c->out || !c->ids || !c->mx || !c->talk || !c->keys) {
        fprintf(stderr, "bench_mixer: out of memory\n");
        return 1;
    }
    for (int m = 0; m < members; m++) {
        talk_detect_init(&c->talk[m]);
        dtmf_detector_reset(&c->keys[m]);
        c->ids[m] = mixer_add(c->mx);
        if (c->ids[m] < 0) {
            fprintf(stderr, "bench_mixer: mixer_add failed\n");
            return 1;
        }
        for (int f = 0; f < RING; f++)
            for (int j = 0; j < FRAME; j++)
                c->in[m][f][j] = (int16_t)((int32_t)(next_random() % (2 * LEVEL + 1)) - LEVEL);
    }
    return 0;
}

static void free_case(bench_case *c) {
    mixer_destroy(c->mx);
    free(c->in);
    free(c->out);
    free(c->ids);
    free(c->talk);
    free(c->keys);
}

/* members[:talkers] into *members and *talkers; 0 if well formed. */
static int parse_room(const char *arg, int *members, int *talkers) {
    char *end;
    long m = strtol(arg, &end, 10), t = m;
    if (*end == ':') t = strtol(end + 1, &end, 10);
    if (*end || m < 1 || m > 1024 || t < 0 || t > m) return -1;
    *members = (int)m;
    *talkers = (int)t;
    return 0;
}

/* --count: TICKS untimed ticks of one kernel. */
static int count_ticks(int argc, char **argv) {
    char *end;
    long ticks = argc == 5 ? strtol(argv[2], &end, 10) : 0;
    int members, talkers, mixer_kernel = argc == 5 && strcmp(argv[3], "mixer") == 0;
    if (argc != 5 || *end || ticks < 1 || (!mixer_kernel && strcmp(argv[3], "memcpy") != 0) ||
        parse_room(argv[4], &members, &talkers) != 0) {
        fprintf(stderr, "usage: bench_mixer --count TICKS mixer|memcpy members[:talkers]\n");
        return 2;
    }
    bench_case c;
    if (setup_case(&c, members, talkers) != 0) return 1;
    int32_t acc = 0;
    for (long t = 0; t < ticks; t++) {
        acc += mixer_kernel ? mixer_tick(&c, t) : memcpy_tick(&c, t);
        CLOBBER();
    }
    sink = acc;
    free_case(&c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--count") == 0) return count_ticks(argc, argv);
    int members[16] = {3, 32}, talkers[16] = {3, 32}, n = argc > 1 ? 0 : 2;
    for (int i = 1; i < argc; i++) {
        if (n == 16 || parse_room(argv[i], &members[n], &talkers[n]) != 0) {
            fprintf(stderr, "usage: bench_mixer [members[:talkers]]... (members 1..1024)\n");
            return 2;
        }
        n++;
    }
    for (int i = 0; i < n; i++)
        if (run_case(members[i], talkers[i]) != 0) return 1;
    return 0;
}
