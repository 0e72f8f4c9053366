/* G.711 µ-law (PCMU) and A-law (PCMA) codecs, ITU-T G.711, on 16-bit linear PCM.
 *
 * Stateless: one octet per sample at 8 kHz. Decoding is a table lookup; encoding searches
 * the eight segments of the companding law. */
#ifndef CONFBOX_G711_H
#define CONFBOX_G711_H

#include <stddef.h>
#include <stdint.h>

/** Decoded value of every µ-law code (code 0xFF and 0x7F are the two zeros). */
extern const int16_t g711_ulaw_table[256];
/** Decoded value of every A-law code (0xD5 is +8, 0x55 is -8). */
extern const int16_t g711_alaw_table[256];

/** µ-law code of one 16-bit sample (magnitudes above 32635 clip to the top code). */
uint8_t g711_ulaw_encode(int16_t pcm);
/** 16-bit value of one µ-law code. */
static inline int16_t g711_ulaw_decode(uint8_t code) {
    return g711_ulaw_table[code];
}
/** A-law code of one 16-bit sample. */
uint8_t g711_alaw_encode(int16_t pcm);
/** 16-bit value of one A-law code. */
static inline int16_t g711_alaw_decode(uint8_t code) {
    return g711_alaw_table[code];
}

/** Encodes n samples into n µ-law octets. */
void g711_ulaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out);
/** Decodes n µ-law octets into n samples. */
void g711_ulaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm);
/** Encodes n samples into n A-law octets. */
void g711_alaw_encode_buf(const int16_t *pcm, size_t n, uint8_t *out);
/** Decodes n A-law octets into n samples. */
void g711_alaw_decode_buf(const uint8_t *in, size_t n, int16_t *pcm);

#endif
