"""dev_get_regmap: a device's register map found again by the device (and name), as devres_find does.

ASoC's snd_soc_add_component takes the component's map from its device
when the driver gave none: the real snd-soc-core.ko's dummy component has
none (NULL), the real SSM4567 amplifier codec gets the map its I2C probe
made with devm_regmap_init_i2c.
"""

from __future__ import annotations

from kernel_stubs.linux.regmap import dev_get_regmap
from sandbox import Kernel
from sandbox.devices.i2c import RegisterChip
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus


def _results(k: Kernel, name: str) -> list[int]:
    return [e.result for e in k.trace if e.kind == "service" and e.name == name]


def test_snd_soc_core_dummy_component_has_no_map() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("snd-soc-core", KDIR)
    assert modules[-1].name == "snd_soc_core"
    assert _results(k, "dev_get_regmap") == [0, 0]  # the dummy codec and the dummy platform component


def test_ssm4567_component_takes_the_map_its_probe_made() -> None:
    k = Kernel("linux", unresolved="trap")
    k.i2c.add(RegisterChip("ssm4567-chip", {reg: 0 for reg in range(0x100)}), addr=0x34, name="ssm4567")
    k.modprobe("snd-soc-ssm4567", KDIR)
    (made,) = _results(k, "__devm_regmap_init_i2c")
    assert _results(k, "dev_get_regmap")[-1] == made
    assert "probe of 0-0034 failed" not in k.console
    ctx = k.service_context
    dev = next(e.args[0] for e in k.trace if e.kind == "service" and e.name == "dev_get_regmap" and e.result == made)
    name = k.memory.alloc(8)
    k.memory.write(name, b"other\0")
    assert dev_get_regmap(ctx, dev, 0) == made
    assert dev_get_regmap(ctx, dev, name) == 0  # the map has no name: a named lookup misses it
