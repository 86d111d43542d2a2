"""The corpus command's honest figures: strict / with traps, alone / with dependencies, and what inits did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.corpus import classify_init, load_corpus
from tests.linux_corpus import KDIR, ko, needs_corpus

pytestmark = needs_corpus
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("module", "kind"), [
    ("lib/crc8.ko", "nothing"),
    ("drivers/net/ethernet/realtek/8139too.ko", "bus driver only"),
    ("drivers/char/nvram.ko", "registration"),
    ("lib/test_user_copy.ko", "own work"),
])
def test_what_an_init_did(module: str, kind: str) -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(ko(module))
    assert classify_init(k.trace, m.name) == kind


def test_dependencies_turn_strict_failures_into_loads() -> None:
    """blowfish_generic imports blowfish_common's exports: strictly, it loads only after it."""
    alone = load_corpus(KDIR / "crypto", strict=True)
    chained = load_corpus(KDIR / "crypto", strict=True, deps=True)
    assert chained.loaded > alone.loaded
    assert any(path.endswith("/blowfish_generic.ko") for path in alone.failures)
    assert not any(path.endswith("/blowfish_generic.ko") for path in chained.failures)


def test_init_kinds_add_up_with_and_without_dependencies() -> None:
    for deps in (False, True):
        result = load_corpus(KDIR / "drivers" / "watchdog", run_init=True, deps=deps)
        assert sum(result.init_kinds.values()) == result.init_ok > 0


def test_device_models_turn_bus_only_inits_into_probes() -> None:
    """wdt_pci only registers its driver on a bare kernel; with the corpus models its probe runs."""
    wdt_pci = [KDIR / "drivers/watchdog/wdt_pci.ko"]
    bare = load_corpus(KDIR, files=wdt_pci, run_init=True)
    equipped = load_corpus(KDIR, files=wdt_pci, run_init=True, models=True)
    assert bare.init_kinds == {"bus driver only": 1}
    assert equipped.init_kinds == {"probed a device": 1} and equipped.models


def test_corpus_command_prints_the_five_figures_with_times() -> None:
    out = subprocess.run([sys.executable, "-m", "sandbox", "corpus", str(KDIR / "drivers" / "watchdog"), "--figures",
                          "--quiet"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "reach figures:"
    labels = ["strict, alone", "strict, after its dependencies", "traps, alone", "traps, with dependencies",
              "traps, with dependencies and device models"]
    for line, label in zip(lines[1:6], labels, strict=True):
        assert (line.strip().startswith(label) and line.rstrip().endswith(("s)",))) or "s);" in line
    # Then why an init that passes alone fails with its dependencies, counted by cause.
    assert lines[6].strip().startswith("passing alone, failing with dependencies")


class _Broken:
    """A kernel part with a defect: it raises KeyError when wdt_pci unloads."""

    def release_module(self, k: object, module: object) -> list[str]:
        if getattr(module, "name", "") == "wdt_pci":
            raise KeyError(1234)
        return []


def test_an_internal_error_is_a_reason_not_the_end_of_the_run() -> None:
    """A defect of the sandbox's own (not a service's, which becomes a ServiceError) fails that
    module only, under its own reason, and the run goes on in a fresh kernel."""
    k = Kernel("linux", unresolved="trap", trace=False)
    k.subsystem(_Broken)
    files = [KDIR / "drivers/watchdog/wdt_pci.ko", KDIR / "lib/crc8.ko"]
    result = load_corpus(KDIR, files=files, run_init=True, kernel=k)
    assert result.reasons == {"internal error": 1} and result.replaced_kernels == 1
    assert result.failures == {str(files[0]): "unload: KeyError: 1234"}
    assert result.init_ok == 2  # crc8 ran too, in the fresh kernel
