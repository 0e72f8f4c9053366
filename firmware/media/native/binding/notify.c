/* systemd's notify protocol: one datagram to the unix socket named by $NOTIFY_SOCKET.
 *
 * Node has no unix datagram sockets, so the firmware's systemd module (firmware/systemd.ts) sends
 * through this function. It runs on the JS thread and never blocks: MSG_DONTWAIT turns a full
 * receive queue into EAGAIN. The kernel adds the sender's credentials, which systemd checks
 * against the service's main PID (NotifyAccess=main), so the datagram goes out from this process
 * and not from a helper program.
 *
 *   sdNotify(socket, message) -> undefined
 *     socket   "/run/systemd/notify" (a path) or "@name" (Linux's abstract namespace)
 *     message  "READY=1", "WATCHDOG=1", "STATUS=...", several separated by newlines
 *   throws a TypeError or RangeError naming a bad argument, or an Error whose code is the errno
 *   name (ENOENT, ECONNREFUSED, EAGAIN, ...) when the datagram cannot be sent. */
#define _GNU_SOURCE
#include "errno_name.h"
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* systemd reads at most this much of one notification. */
#define MESSAGE_MAX 4096

static void throw_errno(napi_env env, const char *what, int err) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    napi_value code, text, error, num;
    if (napi_create_string_utf8(env, confbox_errno_name(err), NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) == napi_ok &&
        napi_create_error(env, code, text, &error) == napi_ok &&
        napi_create_int32(env, -err, &num) == napi_ok &&
        napi_set_named_property(env, error, "errno", num) == napi_ok)
        napi_throw(env, error);
}

/* The UTF-8 bytes of a string argument into buf (NUL-terminated); its length, or -1 thrown. */
static ptrdiff_t get_text(napi_env env, napi_value v, const char *name, char *buf, size_t size) {
    napi_valuetype t;
    size_t len = 0;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
        napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a string", name);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    if (len == 0 || len >= size) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be 1 to %zu bytes long", name, size - 1);
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
        return -1;
    }
    if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
        napi_throw_error(env, "ERR_CONFBOX_NAPI", "cannot read a string argument");
        return -1;
    }
    return (ptrdiff_t)len;
}

napi_value confbox_sd_notify(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
        napi_throw_error(env, "ERR_CONFBOX_NAPI", "cannot read the arguments");
        return NULL;
    }
    if (argc < 2) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "sdNotify(socket, message) takes two strings");
        return NULL;
    }

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    char name[sizeof addr.sun_path + 1];
    ptrdiff_t n = get_text(env, argv[0], "socket", name, sizeof name);
    if (n < 0) return NULL;
    socklen_t addr_len;
    if (name[0] == '@') {
        /* Abstract namespace: a leading NUL, then the name; the length ends it (no NUL). */
        if (n < 2) {
            napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                                   "socket \"@\" names no abstract socket");
            return NULL;
        }
        memcpy(addr.sun_path + 1, name + 1, (size_t)n - 1);
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);
    } else if (name[0] == '/') {
        if ((size_t)n >= sizeof addr.sun_path) {
            napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                                   "socket path is longer than a unix socket address holds");
            return NULL;
        }
        memcpy(addr.sun_path, name, (size_t)n);
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    } else {
        napi_throw_range_error(
            env, "ERR_OUT_OF_RANGE",
            "socket must be an absolute path or an abstract name starting with @");
        return NULL;
    }

    char *message = malloc(MESSAGE_MAX + 1);
    if (!message) {
        throw_errno(env, "sdNotify", ENOMEM);
        return NULL;
    }
    ptrdiff_t len = get_text(env, argv[1], "message", message, MESSAGE_MAX + 1);
    if (len < 0) {
        free(message);
        return NULL;
    }

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        free(message);
        throw_errno(env, "socket", err);
        return NULL;
    }
    ssize_t sent = sendto(fd, message, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&addr, addr_len);
    int err = errno;
    close(fd);
    free(message);
    if (sent < 0) {
        char what[sizeof name + 16];
        snprintf(what, sizeof what, "send to %s", name);
        throw_errno(env, what, err);
        return NULL;
    }
    if ((size_t)sent != (size_t)len) {
        throw_errno(env, "sdNotify", EMSGSIZE);
        return NULL;
    }
    return NULL;
}
