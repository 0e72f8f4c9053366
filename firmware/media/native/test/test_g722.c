/* G.722 round trip: tones keep their energy and frequency; silence stays silent; no overflow. */
#include "../src/g722.h"
#include "check.h"
#include "tone.h"

#include <stdlib.h>
#include <string.h>

#define RATE 16000.0
#define N    16000 /* one second */

static double round_trip(double f, double amp, double *gain_db, size_t *delay, int16_t *dec) {
    static int16_t pcm[N];
    static uint8_t enc[N / 2];
    tone_fill(pcm, N, f, amp, RATE, 0);
    g722_encoder *e = g722_encoder_create();
    g722_decoder *d = g722_decoder_create();
    size_t octets = 0, samples = 0;
    for (size_t i = 0; i < N; i += 320) octets += g722_encode(e, pcm + i, 320, enc + i / 2);
    for (size_t i = 0; i < N / 2; i += 160) samples += g722_decode(d, enc + i, 160, dec + 2 * i);
    g722_encoder_destroy(e);
    g722_decoder_destroy(d);
    if (octets != N / 2 || samples != N) return -1000;
    /* skip the first 100 ms while the scale factors adapt */
    size_t skip = 1600;
    double snr = snr_db(pcm + skip, dec + skip, N - skip - 64, 64, delay);
    *gain_db = 10 * log10(goertzel(dec + skip, N - skip, f, RATE) /
                          goertzel(pcm + skip, N - skip, f, RATE));
    return snr;
}

int main(void) {
    static int16_t dec[N];
    double gain;
    size_t delay = 0;
    double snr = round_trip(1000, 10000, &gain, &delay, dec);
    check(snr > 30, "1 kHz tone at -10 dBFS: SNR %.1f dB (> 30)", snr);
    check(fabs(gain) < 0.5, "1 kHz tone keeps its energy at 1 kHz (%.2f dB)", gain);
    double other =
        goertzel(dec + 1600, N - 1600, 1500, RATE) / goertzel(dec + 1600, N - 1600, 1000, RATE);
    check(other < 1e-3, "1 kHz tone stays at 1 kHz (1.5 kHz/1 kHz power ratio %.1e)", other);

    snr = round_trip(300, 3000, &gain, &delay, dec);
    check(snr > 25 && fabs(gain) < 0.5, "300 Hz tone at -20 dBFS: SNR %.1f dB, gain %.2f dB", snr,
          gain);
    snr = round_trip(3000, 20000, &gain, &delay, dec);
    check(snr > 25 && fabs(gain) < 0.5, "3 kHz tone at -4 dBFS: SNR %.1f dB, gain %.2f dB", snr,
          gain);
    snr = round_trip(6000, 8000, &gain, &delay, dec);
    check(snr > 8 && fabs(gain) < 2, "6 kHz tone (higher band, 2 bits): SNR %.1f dB, gain %.2f dB",
          snr, gain);

    /* A sweep 100 Hz - 7 kHz: broadband audio survives, and the codec delay shows. */
    static int16_t sw[N];
    static uint8_t swe[N / 2];
    double ph = 0;
    for (int i = 0; i < N; i++) {
        ph += 2 * M_PI * (100 + 6900.0 * i / N) / RATE;
        sw[i] = (int16_t)lrint(8000 * sin(ph));
    }
    g722_encoder *se = g722_encoder_create();
    g722_decoder *sd = g722_decoder_create();
    g722_encode(se, sw, N, swe);
    g722_decode(sd, swe, N / 2, dec);
    snr = snr_db(sw + 1600, dec + 1600, N - 1700, 64, &delay);
    check(snr > 15 && delay >= 20 && delay <= 24, "sweep 0.1-7 kHz: SNR %.1f dB, delay %zu samples",
          snr, delay);
    g722_encoder_destroy(se);
    g722_decoder_destroy(sd);

    /* Full-scale square wave: no overflow (the sanitizer build traps it), output bounded. */
    static int16_t sq[N];
    static uint8_t enc[N / 2];
    for (int i = 0; i < N; i++) sq[i] = (i / 20) % 2 ? 32767 : -32768;
    g722_encoder *e = g722_encoder_create();
    g722_decoder *d = g722_decoder_create();
    g722_encode(e, sq, N, enc);
    g722_decode(d, enc, N / 2, dec);
    check(mean_power(dec + 1600, N - 1600) > 1e8, "full-scale square wave survives (power %.2e)",
          mean_power(dec + 1600, N - 1600));

    /* Silence in, near-silence out; reset restores the initial state exactly. */
    memset(sq, 0, sizeof sq);
    g722_encoder_reset(e);
    g722_decoder_reset(d);
    g722_encode(e, sq, N, enc);
    g722_decode(d, enc, N / 2, dec);
    check(mean_power(dec, N) < 4, "silence stays silent (power %.2f)", mean_power(dec, N));
    uint8_t a[160], b[160];
    tone_fill(sq, 320, 440, 5000, RATE, 0);
    g722_encoder_reset(e);
    g722_encode(e, sq, 320, a);
    g722_encoder_reset(e);
    g722_encode(e, sq, 320, b);
    check(memcmp(a, b, sizeof a) == 0, "reset gives a deterministic encoder");
    g722_encoder_destroy(e);
    g722_decoder_destroy(d);
    return check_done();
}
