#!/usr/bin/env python3
"""Plays systemd's part of the notify protocol (sd_notify(3)) for tests.

Binds a unix datagram socket (a path, or "@name" for the abstract namespace), asks the kernel for
each sender's credentials (SO_PASSCRED, as systemd does to tell the main PID from its children)
and prints one JSON line per datagram: {"pid", "uid", "at" (ms since the epoch), "message"}.
The first line, {"listening": address}, says the socket is bound. Runs until killed.
"""
import json
import os
import socket
import struct
import sys
import time


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: notify-listener.py /path/to/socket | @abstract-name")
    name = sys.argv[1]
    address = "\0" + name[1:] if name.startswith("@") else name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(address)
    print(json.dumps({"listening": name}), flush=True)
    ucred = struct.Struct("iII")  # pid_t pid; uid_t uid; gid_t gid
    while True:
        data, ancillary, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(ucred.size))
        pid = uid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, uid, _gid = ucred.unpack(payload[: ucred.size])
        line = {"pid": pid, "uid": uid, "at": time.time() * 1000, "message": data.decode("utf-8", "replace")}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout.flush()
        os._exit(0)
