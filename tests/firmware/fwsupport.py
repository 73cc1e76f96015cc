"""Helpers for firmware tests that run both under CPython and in the MicroPython VM.

Only MicroPython-compatible Python here.
"""

import sys

IN_VM = sys.implementation.name == "micropython"

if IN_VM:
    VECTORS = "/vectors"
else:
    import os

    VECTORS = os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "vectors")
    )

REPORTS = []  # (label, counts) collected under CPython for pytest's summary


def vector_path(rel):
    """Absolute path of a file in ../shared/vectors (mounted at /vectors in the VM)."""
    return VECTORS + "/" + rel


def load_json(rel):
    """Parse a JSON vector file."""
    import json

    with open(vector_path(rel)) as f:
        return json.load(f)


def read_hex(rel):
    """Bytes of a .hex vector file (whitespace ignored)."""
    import binascii

    with open(vector_path(rel)) as f:
        return binascii.unhexlify("".join(f.read().split()))


def report(label, **counts):
    """Record counts (e.g. vectors checked) so the test run prints them."""
    items = sorted(counts.items())
    line = "REPORT " + label + " " + " ".join("%s=%s" % kv for kv in items)
    if IN_VM:
        print(line)
    else:
        REPORTS.append(line)
