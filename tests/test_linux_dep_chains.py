"""Dependencies that used to fail every module needing them, loaded and unloaded as modprobe would.

Each was a top cause of "passes alone, fails after its dependencies" in the corpus (item 6 of
issue 11): usbcore (major 180 and 189 are its own, register_acpi_bus_type is -ENODEV with ACPI
off and usbcore goes on, its bus notifier), pcmcia (class_interface_register; at exit
class_unregister runs the class's release, which completes what exit_pcmcia_cs waits for),
snd (proc_set_size), usb-common and rc-core (led_trigger_register_simple), drm (major 226).
"""

from __future__ import annotations

import pytest

from sandbox import Kernel
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus


@pytest.mark.parametrize("name", ["usbcore", "usbhid", "pcmcia", "yenta_socket", "snd", "usb_common", "rc_core",
                                  "drm", "watchdog"])
def test_chain_loads_and_unloads_clean(name: str) -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe(name, KDIR)
    assert modules[-1].name == name
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name


def test_usbcore_joins_its_bus_notifier_and_acpi_glue_is_refused() -> None:
    k = Kernel("linux", unresolved="trap")
    k.modprobe("usbcore", KDIR)
    calls = {e.name: e.result for e in k.trace if e.kind == "service"}
    assert calls["register_acpi_bus_type"] == -19
    assert calls["bus_register_notifier"] == 0
    assert calls["__register_chrdev"] == 0  # major 180 is usbcore's
