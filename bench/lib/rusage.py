"""Runs a command with its standard output discarded and prints, as JSON, its wall time, CPU time
(user + system, every thread) and peak resident memory, from the kernel's accounting of the child
(wait4). Used by bench/parse.ts to measure Plum and the predecessor's parser the same way.

    python3 bench/lib/rusage.py COMMAND [ARG...]
"""
import json
import os
import subprocess
import sys
import time

if len(sys.argv) < 2:
    sys.exit("usage: python3 bench/lib/rusage.py COMMAND [ARG...]")
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
print(json.dumps({
    "exit": code,
    "wall_s": round(wall, 3),
    "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
}))
sys.exit(0 if code == 0 else 1)
