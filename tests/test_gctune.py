"""malloc's arenas capped before threads start: threads that allocate share them; its mmap
threshold fixed, so large blocks freed go back at once; freed pages handed back every few
batches."""

from __future__ import annotations

import platform

import pytest

from tests.fixtures.snippets import run_snippet

pytestmark = pytest.mark.offline

# Four threads allocate blocks too large for Python's own allocator (malloc's), at once; then
# malloc_info's XML is counted for its heaps (one per arena).
_ARENAS = """
import ctypes, ctypes.util, sys, tempfile, threading
from casebus.gctune import tune_malloc
if sys.argv[1] == "capped":
    assert tune_malloc(1)
start = threading.Barrier(4)
def allocate():
    start.wait()
    kept = [bytearray(4096) for _ in range(2000)]
    start.wait()
threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as out:
    f = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(f))
    libc.fclose(ctypes.c_void_p(f))
    print(open(out.name).read().count("<heap nr="))
"""


def _heaps(mode: str) -> int:
    return int(run_snippet(_ARENAS, mode))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_capped_arenas_are_shared_by_the_threads() -> None:
    assert _heaps("free") > 1  # each thread that allocates gets an arena of its own
    assert _heaps("capped") == 1


# A 4 MB block (a fetch response, say) freed; then twenty blocks of 1 MB, all but the last
# freed, with small objects made between them (a batch's): how much RSS they leave behind.
_LARGE = """
import sys
from casebus.gctune import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
first = bytearray(4 << 20)
del first
before = rss_kb()
blocks, small = [], []
for _ in range(20):
    blocks.append(bytearray(1 << 20))
    small.append([bytearray(600) for _ in range(50)])
kept = blocks[-1]
del blocks
print(rss_kb() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_large_blocks_freed_go_back_once_the_mmap_threshold_is_fixed() -> None:
    # glibc's own threshold rose to 4 MB when the first block was freed: the 1 MB blocks
    # came from the heap, and the small objects made between them keep it mapped.
    assert int(run_snippet(_LARGE, "default")) > 15_000  # kB
    assert int(run_snippet(_LARGE, "tuned")) < 5_000


# 40 MB in blocks for malloc, all but every 64th freed: the holes stay mapped until trimmed.
_TRIM = """
from casebus.gctune import MallocTrim
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
blocks = [bytearray(4096) for _ in range(10_000)]
kept = blocks[::64]
del blocks
before = rss_kb()
trim = MallocTrim(every=2)
trim.tick()
first = rss_kb()
trim.tick()
print(before - first, first - rss_kb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_malloc_trim_hands_freed_pages_back_every_nth_batch() -> None:
    def released(env: dict[str, str]) -> tuple[int, int]:
        first, second = run_snippet(_TRIM, env=env).split()
        return int(first), int(second)

    first, second = released({})
    assert first < 1024  # the first tick: not yet
    assert second > 20_000  # the second: most of the 40 MB freed goes back (kB)
    assert released({"CASEBUS_NO_MALLOC_TRIM": "1"})[1] < 1024
