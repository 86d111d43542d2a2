"""PE loading: a PE driver's load against the ELF load of the same driver, and the PE reader against pefile.

Run: ``python bench/bench_pe.py``. Three figures:

- load + unload of each sample driver as a mingw PE DLL against the same C
  built by gcc as a relocatable object and as a shared object (the linked
  ELF image closest to a DLL), in one booted kernel: ratio PE / ELF;
- parsing and checking the PE file: the project's reader (headers, sections,
  base relocations, imports, exports, COFF symbols, the laid-out image)
  against ``pefile.PE(data=...)`` with every directory parsed (pefile is the
  ecosystem's standard reader; the baseline), skipped if pefile is missing;
- strictness: of the checklist's mutated files (tests/test_pe_checks.py),
  how many pefile refuses (PEFormatError) and how many this reader refuses.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import best_of, report  # noqa: E402
from drivers.build import build_all  # noqa: E402
from sandbox import Kernel, LoadError  # noqa: E402
from sandbox.formats.pe.image import PeImage  # noqa: E402

DRIVERS = ("hello", "memlist", "fmt", "uart")


def load_unload(k: Kernel, paths: list[Path], rounds: int) -> None:
    for _ in range(rounds):
        for path in paths:
            k.unload(k.load(path))


def main() -> None:
    built = build_all(toolchains=("gcc",), formats=("obj", "shared", "pe"))
    pe_paths = [built[("gcc", "pe", d)] for d in DRIVERS]
    rounds = 40
    k = Kernel()
    for fmt in ("obj", "shared"):
        elf_paths = [built[("gcc", fmt, d)] for d in DRIVERS]
        load_unload(k, elf_paths + pe_paths, 2)  # warm caches
        elf = best_of(5, lambda paths=elf_paths: load_unload(k, paths, rounds))
        pe = best_of(5, lambda: load_unload(k, pe_paths, rounds))
        per = 1e6 / (rounds * len(DRIVERS))
        report(f"load+unload PE vs ELF {fmt}", pe * per, elf * per, "us", "PE costs what ELF costs")

    blobs = [p.read_bytes() for p in pe_paths]
    ours = best_of(7, lambda: [PeImage(b, "x.dll") for b in blobs for _ in range(50)])
    try:
        import pefile
    except ImportError:
        print("pefile not installed: reader comparison skipped (pip install pefile)")
        return
    theirs = best_of(7, lambda: [pefile.PE(data=b, fast_load=False) for b in blobs for _ in range(50)])
    per = 1e6 / (50 * len(blobs))
    report("parse+check: own reader vs pefile", ours * per, theirs * per, "us", "own reader not slower")
    strictness(built, pefile)


def strictness(built, pefile) -> None:  # type: ignore[no-untyped-def]
    """How many of the checklist's malformed files each reader refuses."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.pe_mutate import PeFields
    from tests.test_pe_checks import CASES

    ours = theirs = refused = 0
    pefile_silent = []
    for case, (mutation, _, _) in sorted(CASES.items()):
        fields = PeFields(bytearray(built[("gcc", "pe", "pelib")].read_bytes()))
        replaced = mutation(fields)
        data = bytes(fields.data if replaced is None else replaced)
        try:
            PeImage(data, "m.dll").exports  # noqa: B018
            Kernel().load_bytes(data, "pelib.dll")
        except LoadError:
            ours += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pe = pefile.PE(data=data)
            if pe.get_warnings():
                theirs += 1  # a warning counts as noticing, if not refusing
            else:
                pefile_silent.append(case)
        except pefile.PEFormatError:
            theirs += 1
            refused += 1
    print(f"malformed files refused: own loader {ours}/{len(CASES)} (each naming its check), pefile {refused}/{len(CASES)} "
          f"(PEFormatError; {theirs - refused} more only as warnings)")
    print(f"  pefile parses without a word: {', '.join(pefile_silent)}")


if __name__ == "__main__":
    main()
