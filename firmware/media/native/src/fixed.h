/* Fixed-point helpers named by their Q format (speexdsp style).
 *
 * Every helper is portable C11: right shifts of negative values are written so they floor on
 * any compiler, and left shifts are multiplications (shifting a negative value left is
 * undefined). Build with -DFIXED_DEBUG to abort when a 16-bit operand is out of range. */
#ifndef CONFBOX_FIXED_H
#define CONFBOX_FIXED_H

#include <stdint.h>

#ifdef FIXED_DEBUG
#include <stdio.h>
#include <stdlib.h>
/* Aborts when a value meant to be a 16-bit operand is not one. */
static inline int32_t fixed_check16(int32_t x, const char *file, int line) {
    if (x < INT16_MIN || x > INT16_MAX) {
        fprintf(stderr, "%s:%d: 16-bit operand out of range: %ld\n", file, line, (long)x);
        abort();
    }
    return x;
}
#define CHECK16(x) fixed_check16((x), __FILE__, __LINE__)
#else
#define CHECK16(x) (x)
#endif

/** Saturates a 32-bit value to the 16-bit range [-32768, 32767]. */
static inline int16_t SAT16(int32_t x) {
    return (int16_t)(x > INT16_MAX ? INT16_MAX : x < INT16_MIN ? INT16_MIN : x);
}

/** Clamps x to [lo, hi]. */
static inline int32_t CLAMP32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

/** Arithmetic right shift that floors (x / 2^s rounded toward minus infinity). */
static inline int32_t SHR32(int32_t x, int s) {
    return x >= 0 ? x >> s : -((-(x + 1)) >> s) - 1;
}

/** Right shift rounding to nearest (ties toward plus infinity). */
static inline int32_t PSHR32(int32_t x, int s) {
    return SHR32(x + ((int32_t)1 << (s - 1)), s);
}

/** Left shift of a possibly negative value (a multiplication: no undefined behaviour). */
static inline int32_t SHL32(int32_t x, int s) {
    return x * ((int32_t)1 << s);
}

/** 16x16 -> 32-bit product. */
static inline int32_t MULT16_16(int32_t a, int32_t b) {
    return (int32_t)CHECK16(a) * (int32_t)CHECK16(b);
}

/** Product of two Q15 values in Q15, floored: (a * b) >> 15. */
static inline int32_t MULT16_16_Q15(int32_t a, int32_t b) {
    return SHR32(MULT16_16(a, b), 15);
}

/** Product of two Q15 values in Q15, rounded to nearest. */
static inline int32_t MULT16_16_P15(int32_t a, int32_t b) {
    return PSHR32(MULT16_16(a, b), 15);
}

/** Signed difference of two wrapping 32-bit counters (RTP timestamps), portable. */
static inline int32_t WRAP_DIFF32(uint32_t a, uint32_t b) {
    uint32_t d = a - b;
    return d <= (uint32_t)INT32_MAX ? (int32_t)d : -(int32_t)(~d) - 1;
}

/** Signed difference of two wrapping 16-bit counters (RTP sequence numbers). */
static inline int32_t WRAP_DIFF16(uint16_t a, uint16_t b) {
    uint16_t d = (uint16_t)(a - b);
    return d < 0x8000u ? (int32_t)d : (int32_t)d - 0x10000;
}

#endif
