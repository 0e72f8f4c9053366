/* What every fuzz target shares: an assertion that names what broke and stops the run (libFuzzer
 * saves the input that did it), and a reader of little pieces of the input. */
#ifndef CONFBOX_FUZZ_H
#define CONFBOX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input read front to back; reads past its end give zeros. */
typedef struct {
    const uint8_t *p;
    size_t left;
} fuzz_input;

static inline uint32_t fuzz_take(fuzz_input *in, int octets) {
    uint32_t v = 0;
    for (int i = 0; i < octets; i++) {
        v = v << 8 | (in->left ? *in->p : 0);
        if (in->left) {
            in->p++;
            in->left--;
        }
    }
    return v;
}

#endif
