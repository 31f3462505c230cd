"""Memory of a process and all its descendants, from /proc (Linux), for `make bench`.

    python3 bench/proc_rss.py PID rss     # sum of VmRSS, kB
    python3 bench/proc_rss.py PID peak    # sum of VmHWM (peak RSS since start or the last reset), kB
    python3 bench/proc_rss.py PID reset   # reset VmHWM to the current RSS (echo 5 > clear_refs)

A gunicorn master and its workers are summed: shared pages are counted once per process, as
`ps` and the kernel report RSS.
"""
import os
import sys


def tree(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    pid, what = int(sys.argv[1]), sys.argv[2]
    pids = tree(pid)
    if what == "reset":
        for p in pids:
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        return
    print(sum(field(p, "VmHWM" if what == "peak" else "VmRSS") for p in pids))


if __name__ == "__main__":
    main()
