"""Loading benchmark: the whole Linux 6.1 686 corpus against ``readelf -rW``.

Run: ``python bench/bench_corpus.py [DIR] [--figures]`` (``--figures`` adds the four reach
figures of ``corpus --figures``, each with its time) (DIR defaults to the directory
tools/fetch-linux-modules prints). Prints the time GNU readelf takes to parse
and print every relocation of every .ko (one process, output discarded), the
sandbox's full load path over the same files (read, parse, check, place,
bind with trapped symbols, relocate, map into one Kernel, unload), the
relocation step alone (the Python loop, and the kernel's loop on the
emulated CPU that the load path uses), and the ratios. Target (issue 6): full load <= readelf.
Files are read once beforehand so both sides start with a warm page cache.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.corpus import figures, format_figures, load_corpus, module_files  # noqa: E402
from sandbox.elf.image import ElfImage  # noqa: E402
from sandbox.kernel import Kernel  # noqa: E402
from sandbox.lifecycle import map_writable, reserve  # noqa: E402
from sandbox.link.plan import BatchRelocator, link_module  # noqa: E402


def default_dir() -> Path:
    out = subprocess.run([str(ROOT / "tools" / "fetch-linux-modules")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def readelf_seconds(files: list[Path]) -> float:
    start = time.perf_counter()
    subprocess.run(["readelf", "-rW", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def relocate_only_seconds(files: list[Path], kernel: Kernel, batch: BatchRelocator | None) -> tuple[float, int]:
    """Time plan.relocate alone, on pages mapped writable as the load path has them."""
    images = [ElfImage(p.read_bytes(), str(p)) for p in files]
    total = 0.0
    count = 0
    for image in images:
        plan = link_module(image)
        undo: list[Callable[[], None]] = []
        plan.place(reserve(kernel, plan, undo))
        plan.bind(lambda name: 0xC0000000)
        map_writable(kernel, plan, undo)
        start = time.perf_counter()
        plan.relocate(batch)
        total += time.perf_counter() - start
        count += plan.relocation_count
        for step in reversed(undo):
            step()
    return total, count


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--figures"]
    root = Path(args[0]) if args else default_dir()
    files = module_files(root)
    for path in files:  # warm the page cache for both sides
        path.read_bytes()
    readelf = readelf_seconds(files)
    result = load_corpus(root)
    readelf_again = readelf_seconds(files)
    baseline = min(readelf, readelf_again)
    kernel = Kernel("linux")
    reloc, count = relocate_only_seconds(files, kernel, None)
    guest, _ = relocate_only_seconds(files, kernel, kernel.relocator)
    print(f"files: {len(files)}, relocations: {count}")
    print(f"readelf -rW (one process):        {baseline:7.2f} s  {1e6 * baseline / count:5.2f} us/reloc")
    print(f"sandbox full load path:           {result.seconds:7.2f} s  {1e6 * result.seconds / count:5.2f} us/reloc"
          f"  ratio {result.seconds / baseline:5.2f}x readelf  ({result.loaded}/{result.files} loaded)")
    print(f"relocation step alone, Python:    {reloc:7.2f} s  {1e6 * reloc / count:5.2f} us/reloc"
          f"  ratio {reloc / baseline:5.2f}x readelf")
    print(f"relocation step alone, guest loop:{guest:7.2f} s  {1e6 * guest / count:5.2f} us/reloc"
          f"  ratio {guest / baseline:5.2f}x readelf  (the load path uses this one)")
    if "--figures" in sys.argv:
        # The reach figures (issue 11 item 6): strict / trapped, alone / with dependencies, with their times.
        print(format_figures(figures(root)))


if __name__ == "__main__":
    main()
