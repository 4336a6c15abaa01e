#!/usr/bin/python3
"""The asgiref baseline of P1 (SPEC "What is measured"), run by qdispatch-bench.

One producer thread submits N tiny items to asgiref's CurrentThreadExecutor, keeping every
future; the main thread sits in run_until_future() on a concurrent.futures.Future that the
producer completes after its last submit. asgiref's queue is FIFO and the future's done
callback enqueues the future itself, so when run_until_future() returns every item has run.

Prints one JSON object: {"itemsPerSecond": median, "samples": [...], ...}.
Needs Debian's python3-asgiref: run it with /usr/bin/python3.
"""

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import Future


def tiny(i):
    return i


def measure(executor_class, items):
    executor = executor_class()  # asgiref breaks an executor after one wait: a fresh one
    done = Future()
    futures = [None] * items

    def produce():
        submit = executor.submit
        for i in range(items):
            futures[i] = submit(tiny, i)
        done.set_result(None)

    start = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    executor.run_until_future(done)
    seconds = time.perf_counter() - start
    producer.join()

    if not all(f.done() for f in futures) or futures[-1].result() != items - 1:
        raise SystemExit("asgiref_bench: an item did not run")
    return items / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()

    try:
        import asgiref
        from asgiref.current_thread_executor import CurrentThreadExecutor
    except ImportError as error:
        print(f"asgiref_bench: cannot import asgiref ({error}); install python3-asgiref "
              f"and run with /usr/bin/python3", file=sys.stderr)
        return 2

    samples = [measure(CurrentThreadExecutor, args.items) for _ in range(args.repetitions)]
    print(json.dumps({
        "itemsPerSecond": statistics.median(samples),
        "samples": samples,
        "items": args.items,
        "python": platform.python_version(),
        "asgiref": getattr(asgiref, "__version__", "unknown"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
