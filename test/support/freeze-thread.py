#!/usr/bin/env python3
"""Freezes one thread of a running process for tests, as a hung thread would be, and thaws it.

    freeze-thread.py PID THREAD_NAME [--in-epoll]

Finds the thread by its name (/proc/PID/task/*/comm), stops only that thread with ptrace
(PTRACE_SEIZE, then PTRACE_INTERRUPT: no signal reaches the process) and prints {"frozen": tid}.
With --in-epoll it is stopped only while it waits in epoll_wait (it is let go and caught again
until then): an event loop thread stopped there holds none of its locks.
The thread stays stopped until a line or end of file arrives on stdin; then it is detached and
runs on ({"thawed": tid}). If this program dies, the kernel detaches the thread as well.
Needs permission to trace the process (the same user with kernel.yama.ptrace_scope 0, or root).
"""
import ctypes
import json
import os
import sys
import time

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000
# epoll_wait, epoll_pwait and epoll_pwait2 by machine (the first field of /proc/PID/task/TID/syscall).
EPOLL_SYSCALLS = {"x86_64": {232, 281, 441}, "aarch64": {22, 441}}


def fail(message: str) -> None:
    print(json.dumps({"error": message}), flush=True)
    sys.exit(1)


def find_thread(pid: int, name: str) -> int:
    tasks = f"/proc/{pid}/task"
    try:
        tids = os.listdir(tasks)
    except OSError as e:
        fail(f"no process {pid}: {e.strerror}")
    for tid in tids:
        try:
            with open(f"{tasks}/{tid}/comm") as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            continue
    fail(f"process {pid} has no thread named {name}")
    return 0


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--in-epoll"]
    if len(args) != 2:
        sys.exit("usage: freeze-thread.py PID THREAD_NAME [--in-epoll]")
    pid, name = int(args[0]), args[1]
    wanted = EPOLL_SYSCALLS.get(os.uname().machine) if "--in-epoll" in sys.argv else None
    if "--in-epoll" in sys.argv and wanted is None:
        fail(f"no epoll system call numbers known for {os.uname().machine}")
    tid = find_thread(pid, name)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

    def ptrace(request: int, what: str) -> None:
        if libc.ptrace(request, tid, None, None) != 0:
            err = ctypes.get_errno()
            fail(f"ptrace {what} of thread {tid}: {os.strerror(err)}")

    for _attempt in range(2000):
        ptrace(PTRACE_SEIZE, "seize")
        ptrace(PTRACE_INTERRUPT, "interrupt")
        os.waitpid(tid, WALL)
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            syscall = f.read().split()
        number = int(syscall[0]) if syscall and syscall[0].lstrip("-").isdigit() else None
        if wanted is None or number in wanted:
            break
        ptrace(PTRACE_DETACH, "detach")
        time.sleep(0.001)
    else:
        fail(f"thread {tid} was never caught waiting in epoll")
    print(json.dumps({"frozen": tid, "syscall": number}), flush=True)
    sys.stdin.readline()
    ptrace(PTRACE_DETACH, "detach")
    print(json.dumps({"thawed": tid}), flush=True)


if __name__ == "__main__":
    main()
