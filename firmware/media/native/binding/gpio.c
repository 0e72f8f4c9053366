/* Output lines of a GPIO chip through the kernel's character device, uAPI v2 (Linux 5.10 and
 * later): one line request holds the lines for as long as the box runs, so nothing else can take
 * them, and the kernel gives them back (as inputs) if the process dies. Three ioctls, so no
 * library: libgpiod would add a dependency for less than this file.
 *
 *   gpioRequest(chip, offsets, initialBits, consumer) -> fd
 *     chip         "/dev/gpiochip0"
 *     offsets      the lines' offsets on the chip (1 to 64 of them)
 *     initialBits  the lines' first values, bit i for offsets[i] (physical levels)
 *     consumer     the name the kernel shows for the lines (gpioinfo), e.g. "confbox"
 *   gpioSet(fd, mask, bits) -> undefined     sets the lines in mask (bit i: offsets[i]) to bits
 *   gpioRelease(fd) -> undefined             the lines go back to the kernel
 *   throws a TypeError or RangeError naming a bad argument, or an Error whose code is the errno
 * name (ENOENT: no such chip, EACCES, EBUSY: a line is taken, ENOTTY: not a GPIO chip). */
#define _GNU_SOURCE
#include "gpio.h"
#include "errno_name.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void throw_errno(napi_env env, const char *what, int err) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    napi_value code, text, error;
    if (napi_create_string_utf8(env, confbox_errno_name(err), NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) == napi_ok &&
        napi_create_error(env, code, text, &error) == napi_ok)
        napi_throw(env, error);
}

static int get_number(napi_env env, napi_value v, const char *name, double min, double max,
                      double *out) {
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
        napi_get_value_double(env, v, out) != napi_ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a number", name);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    if (!(*out >= min && *out <= max) || *out != (double)(uint64_t)*out) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a whole number from %.0f to %.0f", name, min, max);
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
        return -1;
    }
    return 0;
}

napi_value confbox_gpio_request(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "gpioRequest(chip, offsets, initialBits, consumer)");
        return NULL;
    }
    char chip[256], consumer[GPIO_MAX_NAME_SIZE];
    size_t len;
    if (napi_get_value_string_utf8(env, argv[0], chip, sizeof chip, &len) != napi_ok || len == 0 ||
        len >= sizeof chip - 1 || strncmp(chip, "/dev/gpiochip", 13) != 0) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "chip must be a path /dev/gpiochipN");
        return NULL;
    }
    if (napi_get_value_string_utf8(env, argv[3], consumer, sizeof consumer, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "consumer must be a string");
        return NULL;
    }
    bool is_array = false;
    uint32_t n = 0;
    if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > GPIO_V2_LINES_MAX) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                               "offsets must be an array of 1 to 64 line offsets");
        return NULL;
    }
    struct gpio_v2_line_request req;
    memset(&req, 0, sizeof req);
    for (uint32_t i = 0; i < n; i++) {
        napi_value x;
        double d;
        if (napi_get_element(env, argv[1], i, &x) != napi_ok ||
            get_number(env, x, "an offset", 0, 65535, &d))
            return NULL;
        req.offsets[i] = (uint32_t)d;
    }
    double bits;
    if (get_number(env, argv[2], "initialBits", 0, 9007199254740991.0, &bits)) return NULL;
    req.num_lines = n;
    snprintf(req.consumer, sizeof req.consumer, "%s", consumer);
    req.config.flags = GPIO_V2_LINE_FLAG_OUTPUT;
    req.config.num_attrs = 1;
    req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    req.config.attrs[0].attr.values = (uint64_t)bits;
    req.config.attrs[0].mask = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
    int chipfd = open(chip, O_RDWR | O_CLOEXEC);
    if (chipfd < 0) {
        throw_errno(env, chip, errno);
        return NULL;
    }
    int rc = ioctl(chipfd, GPIO_V2_GET_LINE_IOCTL, &req);
    int err = errno;
    close(chipfd);
    if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "%s: requesting %u output lines", chip, n);
        throw_errno(env, what, err);
        return NULL;
    }
    napi_value out;
    if (napi_create_int32(env, req.fd, &out) != napi_ok) {
        close(req.fd);
        return NULL;
    }
    return out;
}

napi_value confbox_gpio_set(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    double fd, mask, bits;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
        get_number(env, argv[0], "fd", 0, 1 << 30, &fd) ||
        get_number(env, argv[1], "mask", 0, 9007199254740991.0, &mask) ||
        get_number(env, argv[2], "bits", 0, 9007199254740991.0, &bits))
        return NULL;
    struct gpio_v2_line_values v = {.bits = (uint64_t)bits, .mask = (uint64_t)mask};
    if (ioctl((int)fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0)
        throw_errno(env, "setting GPIO lines", errno);
    return NULL;
}

napi_value confbox_gpio_release(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    double fd;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
        get_number(env, argv[0], "fd", 0, 1 << 30, &fd))
        return NULL;
    if (close((int)fd) < 0) throw_errno(env, "releasing GPIO lines", errno);
    return NULL;
}
