# Timing helper shared by the benchmark scripts that run unchanged under CPython
# and in the MicroPython VM (there it is mounted as /lib/vmbench.py).
import gc

from vitale import compat  # type: ignore[import-not-found]


def measure(name, fn, rounds):
    # type: (str, object, int) -> None
    """Time fn() over rounds calls (after one warm-up); count heap bytes of one call on MicroPython.

    Prints "RESULT name us_per_op bytes_per_op rounds" (bytes -1 where the runtime cannot count).
    """
    fn()  # type: ignore[operator]
    gc.collect()
    alloc = -1
    if compat.IS_MICROPYTHON:
        gc.disable()
        mem_alloc = getattr(gc, "mem_alloc")
        a0 = mem_alloc()
        fn()  # type: ignore[operator]
        alloc = mem_alloc() - a0
        gc.enable()
        gc.collect()
    t0 = compat.ticks_us()
    for _ in range(rounds):
        fn()  # type: ignore[operator]
    dt = compat.ticks_diff(compat.ticks_us(), t0)
    print("RESULT %s %.1f %d %d" % (name, dt / rounds, alloc, rounds))
