/* Mixer exactness: sum - own, limiter, saturation without wrap, mute, shared frame, 32 members. */
#include "../src/mixer.h"
#include "check.h"

#define N 160

static void fill(int16_t *f, int16_t v) {
    for (int i = 0; i < N; i++) f[i] = v;
}

static uint32_t rng = 0x2545F491u;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Whether every member hears what a 32-bit reference says it should: the limit of the sum of the
 * others who talked, plus its extra. Over rounds of random size, levels (quiet to clipping),
 * talkers, extras, frames put twice and members removed after putting. */
static int matches_reference(int rounds) {
    enum { M = 6 };
    mixer *m = mixer_create(N);
    int ids[M];
    for (int k = 0; k < M; k++) ids[k] = mixer_add(m);
    static int16_t in[M][N], extra[N];
    int ok = 1;
    for (int r = 0; r < rounds && ok; r++) {
        int level = (int)(next_random() % 4 == 0 ? 32768 : 1 + next_random() % 12000);
        int talked[M] = {0}, has_extra = next_random() % 4 == 0, gone = -1;
        for (int k = 0; k < M; k++) {
            if (next_random() % 3 == 0) continue;
            for (int j = 0; j < N; j++)
                in[k][j] = (int16_t)((int32_t)(next_random() % (2u * level)) - level);
            if (next_random() % 8 == 0) { /* a first frame replaced by a second in the round */
                int16_t first[N];
                for (int j = 0; j < N; j++) first[j] = (int16_t)(next_random() % 20000);
                mixer_put(m, ids[k], first);
            }
            mixer_put(m, ids[k], in[k]);
            talked[k] = 1;
        }
        if (next_random() % 8 == 0) { /* a member who put a frame leaves before the mix */
            gone = (int)(next_random() % M);
            mixer_remove(m, ids[gone]);
            talked[gone] = 0;
        }
        for (int j = 0; j < N; j++) extra[j] = (int16_t)((int32_t)(next_random() % 4000) - 2000);
        mixer_mix(m);
        for (int k = 0; k < M && ok; k++) {
            if (k == gone) continue;
            int shared, with_extra = has_extra && k == 0;
            const int16_t *o = mixer_get(m, ids[k], with_extra ? extra : NULL, &shared);
            for (int j = 0; j < N; j++) {
                int32_t v = with_extra ? extra[j] : 0;
                for (int i = 0; i < M; i++)
                    if (i != k && talked[i]) v += in[i][j];
                if (o[j] != mixer_limit(v, MIXER_DEFAULT_KNEE)) {
                    check(0, "round %d member %d sample %d: heard %d, reference %d", r, k, j, o[j],
                          mixer_limit(v, MIXER_DEFAULT_KNEE));
                    ok = 0;
                    break;
                }
            }
        }
        if (gone >= 0) ids[gone] = mixer_add(m);
    }
    mixer_destroy(m);
    return ok;
}

static int all_equal(const int16_t *f, int v) {
    for (int i = 0; i < N; i++)
        if (f[i] != v) return 0;
    return 1;
}

int main(void) {
    mixer *m = mixer_create(N);
    check(m != NULL, "mixer created for 160-sample frames");
    int a = mixer_add(m), b = mixer_add(m), c = mixer_add(m), d = mixer_add(m);
    int16_t fa[N], fb[N], fc[N];
    int shared;

    /* Small values: every listener gets exactly the sum of the others. */
    for (int i = 0; i < N; i++) {
        fa[i] = (int16_t)(i * 3 - 200);
        fb[i] = (int16_t)(1000 - i * 7);
        fc[i] = (int16_t)((i % 13) * 50 - 300);
    }
    mixer_put(m, a, fa);
    mixer_put(m, b, fb);
    mixer_put(m, c, fc);
    mixer_mix(m);
    const int16_t *oa = mixer_get(m, a, NULL, &shared);
    int exact = !shared;
    for (int i = 0; i < N; i++) exact &= oa[i] == fb[i] + fc[i];
    const int16_t *ob = mixer_get(m, b, NULL, &shared);
    for (int i = 0; i < N; i++) exact &= ob[i] == fa[i] + fc[i];
    const int16_t *oc = mixer_get(m, c, NULL, &shared);
    for (int i = 0; i < N; i++) exact &= oc[i] == fa[i] + fb[i];
    check(exact, "each talker hears exactly sum - own (small values)");
    const int16_t *od = mixer_get(m, d, NULL, &shared);
    int full = shared;
    for (int i = 0; i < N; i++) full &= od[i] == fa[i] + fb[i] + fc[i];
    check(full, "a silent member hears the whole sum, from the shared frame");

    /* Non-talkers share one frame (one pointer); a talker's frame is its own. */
    int e = mixer_add(m);
    mixer_put(m, a, fa);
    mixer_mix(m);
    int s1, s2, s3;
    const int16_t *p1 = mixer_get(m, b, NULL, &s1), *p2 = mixer_get(m, e, NULL, &s2);
    const int16_t *p3 = mixer_get(m, a, NULL, &s3);
    check(s1 && s2 && p1 == p2 && !s3 && p3 != p1, "non-talkers share one output frame");
    check(all_equal(p3, 0), "a lone talker hears silence, never itself");
    int talkers = -1;
    mixer_ctl(m, MIXER_GET_TALKERS, &talkers);
    check(talkers == 1, "only members who put a frame are counted as talking (%d)", talkers);

    /* Muted members are not summed but still hear the others. */
    mixer_set_muted(m, b, 1);
    fill(fa, 100);
    fill(fb, 1000);
    mixer_put(m, a, fa);
    mixer_put(m, b, fb);
    mixer_mix(m);
    check(all_equal(mixer_get(m, c, NULL, &shared), 100), "muted member is not summed");
    check(all_equal(mixer_get(m, b, NULL, &shared), 100), "muted member still hears the mix");
    mixer_set_muted(m, b, 0);

    /* Extra (a prompt for one member) is added before the single limit. */
    int16_t extra[N];
    fill(extra, 50);
    fill(fa, 200);
    mixer_put(m, a, fa);
    mixer_mix(m);
    const int16_t *px = mixer_get(m, c, extra, &shared);
    check(!shared && all_equal(px, 250), "extra audio is added for one listener only");
    check(all_equal(mixer_get(m, d, NULL, &shared), 200) && shared, "others do not hear the extra");

    /* Limiter: identity to the knee, soft above, monotonic, bounded, no wrap. */
    int ident = 1, mono = 1, bounded = 1;
    int prev = -40000;
    for (int32_t x = -2000000; x <= 2000000; x += 7) {
        int y = mixer_limit(x, MIXER_DEFAULT_KNEE);
        if (x >= -MIXER_DEFAULT_KNEE && x <= MIXER_DEFAULT_KNEE && y != x) ident = 0;
        if (y < prev) mono = 0;
        if ((x > 0 && y < 0) || (x < 0 && y > 0)) bounded = 0;
        prev = y;
    }
    check(ident, "limiter is exact up to the knee (%d)", MIXER_DEFAULT_KNEE);
    check(mono, "limiter is monotonic");
    check(bounded, "limiter keeps the sign (no wrap-around)");
    check(mixer_limit(30000, MIXER_DEFAULT_KNEE) < 30000 &&
              mixer_limit(30000, MIXER_DEFAULT_KNEE) > MIXER_DEFAULT_KNEE,
          "limiter compresses softly above the knee (30000 -> %d)",
          mixer_limit(30000, MIXER_DEFAULT_KNEE));
    check(mixer_limit(INT32_MAX / 2, MIXER_DEFAULT_KNEE) == 32767 &&
              mixer_limit(-INT32_MAX / 2, MIXER_DEFAULT_KNEE) == -32768,
          "limiter reaches +32767/-32768 only at the extreme");

    /* Loud inputs with the limiter off: plain saturation at +32767/-32768, never wrapped. */
    int knee = 32767;
    check(mixer_ctl(m, MIXER_SET_KNEE, &knee) == 0, "limiter can be turned off");
    fill(fa, 32767);
    fill(fb, 32767);
    fill(fc, 32767);
    mixer_put(m, a, fa);
    mixer_put(m, b, fb);
    mixer_put(m, c, fc);
    mixer_mix(m);
    check(all_equal(mixer_get(m, a, NULL, &shared), 32767), "loud positive sum saturates at 32767");
    check(all_equal(mixer_get(m, d, NULL, &shared), 32767), "shared loud frame saturates at 32767");
    fill(fa, -32768);
    fill(fb, -32768);
    fill(fc, -32768);
    mixer_put(m, a, fa);
    mixer_put(m, b, fb);
    mixer_put(m, c, fc);
    mixer_mix(m);
    check(all_equal(mixer_get(m, a, NULL, &shared), -32768),
          "loud negative sum saturates at -32768");
    /* A loud talker's own residue is removed exactly before saturation (not a 16-bit sum). */
    fill(fa, 30000);
    fill(fb, 30000);
    fill(fc, -30000);
    mixer_put(m, a, fa);
    mixer_put(m, b, fb);
    mixer_put(m, c, fc);
    mixer_mix(m);
    check(all_equal(mixer_get(m, c, NULL, &shared), 32767), "c hears a+b = 60000 saturated");
    check(all_equal(mixer_get(m, a, NULL, &shared), 0), "a hears b+c = 0 exactly");
    knee = MIXER_DEFAULT_KNEE;
    mixer_ctl(m, MIXER_SET_KNEE, &knee);
    mixer_destroy(m);

    /* 32 members, all talking loudly at once: everyone hears the 31 others, bounded, no wrap. */
    mixer *big = mixer_create(N);
    int ids[32];
    int16_t in[32][N];
    for (int k = 0; k < 32; k++) {
        ids[k] = mixer_add(big);
        fill(in[k], (int16_t)(k + 1));
    }
    for (int k = 0; k < 32; k++) mixer_put(big, ids[k], in[k]);
    mixer_mix(big);
    int ok32 = 1;
    for (int k = 0; k < 32; k++)
        ok32 &= all_equal(mixer_get(big, ids[k], NULL, &shared), 528 - (k + 1));
    check(ok32, "32 members: each hears exactly the sum of the 31 others");
    for (int k = 0; k < 32; k++) {
        fill(in[k], k % 2 ? -32768 : 32767);
        in[k][0] = 32767;
    }
    for (int k = 0; k < 32; k++) mixer_put(big, ids[k], in[k]);
    mixer_mix(big);
    int okloud = 1;
    for (int k = 0; k < 32; k++) {
        const int16_t *o = mixer_get(big, ids[k], NULL, &shared);
        okloud &= o[0] > 32000; /* 31 * 32767 limited, still positive */
    }
    check(okloud, "32 loud members: output limited, positive stays positive");
    /* After a loud tick, a quiet one is exact again; one sample beyond the knee in a quiet frame is
     * limited. */
    for (int k = 0; k < 32; k++) fill(in[k], (int16_t)(k + 1));
    for (int k = 0; k < 32; k++) mixer_put(big, ids[k], in[k]);
    mixer_mix(big);
    int quiet_again = 1;
    for (int k = 0; k < 32; k++)
        quiet_again &= all_equal(mixer_get(big, ids[k], NULL, &shared), 528 - (k + 1));
    check(quiet_again,
          "after a loud tick, a quiet one: each hears exactly the sum of the others again");
    in[0][7] = 30000;
    in[1][7] = 30000;
    for (int k = 0; k < 32; k++) mixer_put(big, ids[k], in[k]);
    mixer_mix(big);
    const int16_t *heard = mixer_get(big, ids[2], NULL, &shared);
    int32_t sum7 = 30000 + 30000 + 528 - 1 - 2 - 3;
    check(heard[7] == mixer_limit(sum7, MIXER_DEFAULT_KNEE) && heard[7] < sum7 &&
              heard[6] == 528 - 3,
          "one sample beyond the knee in a quiet frame is limited (%d), its neighbours exact (%d)",
          heard[7], heard[6]);
    mixer_destroy(big);

    check(
        matches_reference(3000),
        "3000 random rounds (quiet, loud, replaced frames, members leaving, extras): every member "
        "hears the limited 32-bit sum of the others");
    return check_done();
}
