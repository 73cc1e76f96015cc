# Runs the test_* functions of one firmware test module inside the MicroPython VM.
# Arguments (the global ARGV): module name, then optional "--shard K/N" and
# "--skip name,name". Prints one line per test and a closing summary; exits 1
# when any test failed.
import sys
import gc

if "/tests" not in sys.path:
    sys.path.append("/tests")


def _args():
    av = ARGV[1:]  # noqa: F821 (set by the runner)
    mod = av[0]
    shard = (0, 1)
    skip = ()
    i = 1
    while i < len(av):
        if av[i] == "--shard":
            k, n = av[i + 1].split("/")
            shard = (int(k), int(n))
            i += 2
        elif av[i] == "--skip":
            skip = tuple(x for x in av[i + 1].split(",") if x)
            i += 2
        else:
            raise SystemExit("fwtest: unknown argument " + av[i])
    return mod, shard, skip


def main():
    modname, (k, n), skip = _args()
    mod = __import__(modname)
    names = sorted(x for x in dir(mod) if x.startswith("test_") and callable(getattr(mod, x)))
    names = [x for j, x in enumerate(names) if j % n == k]
    passed = failed = skipped = 0
    for name in names:
        if name in skip:
            print("SKIP", name)
            skipped += 1
            continue
        gc.collect()
        try:
            getattr(mod, name)()
        except Exception as e:  # report every failing test, go on with the rest
            failed += 1
            print("FAIL", name)
            sys.print_exception(e)
        else:
            passed += 1
            print("PASS", name)
    print("fwtest: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        raise SystemExit(1)


main()
