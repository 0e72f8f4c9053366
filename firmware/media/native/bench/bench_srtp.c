/* SRTP cost per packet: protect and unprotect of 20 ms G.711 packets (172 octets) with each suite,
 * through src/srtp.c and the libsrtp2 it loads. Prints one line per suite. */
#define _GNU_SOURCE
#include "srtp.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PACKETS 200000

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
    const char *why = rtpsec_unavailable();
    if (why) {
        fprintf(stderr, "bench_srtp: %s\n", why);
        return 1;
    }
    const char *names[] = {"", "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"};
    for (int suite = RTPSEC_AES_CM_128_HMAC_SHA1_80; suite <= RTPSEC_AES_CM_128_HMAC_SHA1_32;
         suite++) {
        uint8_t key[RTPSEC_KEY_LEN];
        for (int i = 0; i < RTPSEC_KEY_LEN; i++) key[i] = (uint8_t)(i * 37 + suite);
        rtpsec *tx = NULL, *rx = NULL;
        if (rtpsec_create((rtpsec_suite)suite, key, 1, &tx) ||
            rtpsec_create((rtpsec_suite)suite, key, 0, &rx)) {
            fprintf(stderr, "bench_srtp: no context\n");
            return 1;
        }
        _Alignas(8) uint8_t pkt[172 + RTPSEC_OVERHEAD];
        double protect = 0, unprotect = 0;
        int bad = 0;
        for (int i = 0; i < PACKETS; i++) {
            memset(pkt, 0x55, 172);
            pkt[0] = 0x80;
            pkt[2] = (uint8_t)(i >> 8);
            pkt[3] = (uint8_t)i;
            pkt[11] = 1;
            size_t n = 172;
            double a = seconds();
            bad |= rtpsec_protect(tx, pkt, &n, sizeof pkt);
            double b = seconds();
            bad |= rtpsec_unprotect(rx, pkt, &n);
            unprotect += seconds() - b;
            protect += b - a;
        }
        printf("%s (%s): protect %.2f us, unprotect %.2f us per 172-octet packet%s\n", names[suite],
               rtpsec_version(), protect / PACKETS * 1e6, unprotect / PACKETS * 1e6,
               bad ? " (ERRORS)" : "");
        rtpsec_destroy(tx);
        rtpsec_destroy(rx);
    }
    return 0;
}
