#!/usr/bin/python3
"""How the durable store was chosen: commits per second of SQLite in WAL mode
(synchronous=FULL, one row of 200 bytes per commit: what a small tell costs)
against appending 200 bytes to one file per session and fdatasync'ing it, from
1, 8 and 64 threads, on the disk of --dir (default: the current directory).

SQLite lets one writer commit at a time, so its rate cannot grow with the
number of sessions; separate files let the file system merge concurrent
fsyncs into shared journal commits. optd's store (server/storage/session_store.h) is
the second. Both are measured in the same run; the last line gives the rates
and the ratio at 64 threads.

  /usr/bin/python3 bench/store_choice.py [--dir DIR] [--commits 2000]
"""

import argparse
import os
import shutil
import sqlite3
import tempfile
import threading
import time

PAYLOAD = b"x" * 200


def sqlite_worker(db: str, k: int, n: int) -> None:
    c = sqlite3.connect(db, isolation_level=None, timeout=120)
    c.execute("pragma synchronous=FULL")
    for i in range(n):
        c.execute("begin immediate")
        c.execute("insert into t values (?, ?, ?)", (str(k), i, PAYLOAD))
        c.execute("commit")
    c.close()


def file_worker(d: str, k: int, n: int) -> None:
    fd = os.open(os.path.join(d, f"s{k}"),
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for _ in range(n):
        os.write(fd, PAYLOAD)
        os.fdatasync(fd)
    os.close(fd)


def rate(worker, arg: str, threads: int, total: int) -> float:
    n = total // threads
    pool = [threading.Thread(target=worker, args=(arg, k, n))
            for k in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return threads * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=".")
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="optd-store-choice-", dir=args.dir)
    try:
        db = os.path.join(work, "t.db")
        c = sqlite3.connect(db)
        c.execute("pragma journal_mode=wal")
        c.execute("create table t (s text, i int, b blob)")
        c.commit()
        c.close()
        results = {}
        for threads in (1, 8, 64):
            results[f"sqlite_{threads}"] = rate(sqlite_worker, db, threads,
                                                args.commits)
            results[f"files_{threads}"] = rate(file_worker, work, threads,
                                               args.commits)
            print(f"{threads:2d} threads: sqlite WAL {results[f'sqlite_{threads}']:8.0f}"
                  f" commits/s   file+fdatasync {results[f'files_{threads}']:8.0f}/s")
        fields = " ".join(f"{k}_per_s={v:.0f}" for k, v in results.items())
        ratio = results["files_64"] / results["sqlite_64"]
        print(f"{fields} files_over_sqlite_64={ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
