/* G.722 wideband codec at 64 kbit/s (ITU-T G.722 mode 1): 16 kHz PCM <-> octets at 8000/s.
 *
 * Two-band QMF; the lower band is coded with 6-bit ADPCM, the higher with 2-bit ADPCM, each
 * with an adaptive pole-zero predictor and a log-domain scale factor. An octet carries the
 * higher band's 2 bits over the lower band's 6. Note for RTP: G.722's timestamp clock is
 * 8000 Hz (RFC 3551), one tick per octet, though the audio is sampled at 16 kHz. */
#ifndef CONFBOX_G722_H
#define CONFBOX_G722_H

#include <stddef.h>
#include <stdint.h>

typedef struct g722_encoder g722_encoder;
typedef struct g722_decoder g722_decoder;

/** New encoder in the reset state; NULL if out of memory. */
g722_encoder *g722_encoder_create(void);
/** Frees it. */
void g722_encoder_destroy(g722_encoder *e);
/** Returns the encoder to its initial state. */
void g722_encoder_reset(g722_encoder *e);
/** Encodes n samples (16 kHz; n even) into n / 2 octets; returns the octet count. */
size_t g722_encode(g722_encoder *e, const int16_t *pcm, size_t n, uint8_t *out);

/** New decoder in the reset state; NULL if out of memory. */
g722_decoder *g722_decoder_create(void);
/** Frees it. */
void g722_decoder_destroy(g722_decoder *d);
/** Returns the decoder to its initial state. */
void g722_decoder_reset(g722_decoder *d);
/** Decodes n octets into 2n samples at 16 kHz; returns the sample count. */
size_t g722_decode(g722_decoder *d, const uint8_t *in, size_t n, int16_t *pcm);

#endif
