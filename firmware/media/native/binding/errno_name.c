#include "errno_name.h"

#include <errno.h>

const char *confbox_errno_name(int err) {
    switch (err) {
    case EINVAL:
        return "EINVAL";
    case ENOENT:
        return "ENOENT";
    case EBUSY:
        return "EBUSY";
    case ENOMEM:
        return "ENOMEM";
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    case EADDRINUSE:
        return "EADDRINUSE";
    case EADDRNOTAVAIL:
        return "EADDRNOTAVAIL";
    case EAFNOSUPPORT:
        return "EAFNOSUPPORT";
    case EACCES:
        return "EACCES";
    case EPERM:
        return "EPERM";
    case EAGAIN:
        return "EAGAIN";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case ENOTDIR:
        return "ENOTDIR";
    case ENOTSOCK:
        return "ENOTSOCK";
    case EPROTOTYPE:
        return "EPROTOTYPE";
    case EMSGSIZE:
        return "EMSGSIZE";
    case ENOBUFS:
        return "ENOBUFS";
    default:
        return "EIO";
    }
}
