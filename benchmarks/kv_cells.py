"""How many KV cells a real run's decode steps scan, against how many hold a token.

A batched step's attention runs over the first ``n`` cells of the shared KV cache (one past the
highest cell in use, padded to 256), masked per sequence, so cells left free between those in
use (by documents that ended) are scanned by every row all the same. This runs ``zest run``
with the arguments given, in this process, with ``LLAMA_KV_CACHE_DEBUG=1`` and a log callback
that reads llama.cpp's ``find_slot`` debug lines, and prints for each KV cache (by its size in
cells: the full-attention layers' cache and the sliding-window layers' one of each context)
the mean and largest ``n`` and ``used`` over the run's debug lines (one per sequence of each
decoded ubatch):

    python benchmarks/kv_cells.py --exemplars corpora/scifact --anchors 4 --docs 64 \\
        --db /tmp/kv.db -o workers=1

``decode_step.py``'s ``masked`` key then prices the difference per step.
"""

import os
import re
import sys
from collections import defaultdict
from statistics import mean

os.environ["LLAMA_KV_CACHE_DEBUG"] = "1"  # read when a context's cache is made

import llama_cpp  # noqa: E402
import llama_cpp._logger  # noqa: E402, F401  (installs its callback first; ours replaces it)
from throughput import machine  # noqa: E402

from zest_core import cli  # noqa: E402

LINE = re.compile(rb"find_slot: .*\bn = *(\d+), used = *(\d+), head = *\d+, size = *(\d+)")
seen: dict[int, list[tuple[int, int]]] = defaultdict(list)  # cache size -> (n, used) per line


@llama_cpp.llama_log_callback
def read_slot_lines(level, text, user_data):
    match = LINE.search(text)
    if match:
        n, used, size = map(int, match.groups())
        seen[size].append((n, used))
    elif level in (2, 3):  # warnings and errors are still shown
        sys.stderr.write(text.decode(errors="replace"))


def main() -> int:
    llama_cpp.llama_log_set(read_slot_lines, None)
    # Llama(verbose=False) leaves the callback alone: it only sets the Python logger's level.
    sys.argv = ["zest", "run", *sys.argv[1:]]
    rc = cli._main()
    if rc:
        return rc  # zest has said why
    print("\npython benchmarks/kv_cells.py " + " ".join(sys.argv[2:]))
    print(f"{machine()}\n")
    print("| cache size (cells) | lines | mean n | largest n | mean used | largest used |")
    print("|---|---|---|---|---|---|")
    for size, lines in sorted(seen.items()):
        n, used = zip(*lines)
        print(
            f"| {size} | {len(lines)} | {mean(n):.0f} | {max(n)} | {mean(used):.0f} | {max(used)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
