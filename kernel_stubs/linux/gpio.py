"""GPIO as Linux 6.1's gpiolib has it on a PC: chips drivers provide, and consumers without board tables.

Providers: ``gpiochip_add_data_with_key(gc, data, ...)`` registers a guest
``struct gpio_chip`` (316 bytes on i386); a negative ``base`` gets the next
free block below 512 (``gpiochip_find_base`` with ARCH_NR_GPIOS), as 6.1
numbers dynamic chips; ``gpiochip_get_data`` gives the driver its data
back; ``gpiochip_remove`` (or the ``devm_`` form at unbind) takes the chip
away, with Linux's complaint if lines are still requested. The chip's own
``get``/``set``/``direction_*``/``get_direction``/``to_irq`` callbacks are
what reads and drives a line, from consumers and from Python
(:func:`gpio_chips`).

Consumers: a PC without device-tree or ACPI GPIO descriptions has no
lookup for ``gpiod_get(dev, con_id, ...)``: the optional forms return NULL,
the others ``ERR_PTR(-ENOENT)``, and every ``gpiod_*`` call on a NULL
descriptor is the no-op Linux makes it (optional GPIOs). Legacy numbers
reach registered chips: ``gpio_request``/``gpio_free`` (-EPROBE_DEFER for a
number no chip has yet, -EBUSY for a requested line), ``gpio_to_desc``,
``desc_to_gpio``. A descriptor here is an address in a table the kernel
keeps per chip (``struct gpio_desc`` is opaque to drivers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.errors import GuestFault
from sandbox.services import service

from ..memory import allocate, release
from . import devres
from .layout import Fields
from .registrations import EINVAL, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

ARCH_NR_GPIOS = 512
DESC_SIZE = 16  # the kernel's per-line record; drivers only hold the pointer
EBUSY, ENOENT, EPROBE_DEFER = 16, 2, 517


@dataclass(slots=True)
class GpioChip:
    """A registered chip: its struct, numbers, descriptors, who registered it, which lines are taken."""

    gc: int
    base: int
    ngpio: int
    data: int
    descs: int  # guest table of ngpio descriptor records
    owner: str
    label: str
    requested: dict[int, str] = field(default_factory=dict)  # offset -> label


class GpioChips:
    """The kernel's GPIO chips, by struct gpio_chip."""

    def __init__(self) -> None:
        self.chips: dict[int, GpioChip] = {}

    def clone(self) -> GpioChips:
        twin = GpioChips()
        twin.chips = {a: GpioChip(c.gc, c.base, c.ngpio, c.data, c.descs, c.owner, c.label, dict(c.requested))
                      for a, c in self.chips.items()}
        return twin

    def by_number(self, gpio: int) -> tuple[GpioChip, int] | None:
        for chip in self.chips.values():
            if chip.base <= gpio < chip.base + chip.ngpio:
                return chip, gpio - chip.base
        return None

    def by_desc(self, desc: int) -> tuple[GpioChip, int] | None:
        for chip in self.chips.values():
            if chip.descs <= desc < chip.descs + chip.ngpio * DESC_SIZE and not (desc - chip.descs) % DESC_SIZE:
                return chip, (desc - chip.descs) // DESC_SIZE
        return None

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Chips a module left registered, and lines it left requested: reported and dropped."""
        leaks = []
        for chip in self.chips.values():  # lines first: a chip going with them would complain
            for offset, label in list(chip.requested.items()):
                if label.startswith(f"{module.name}:"):
                    leaks.append(f"GPIO {chip.base + offset} ({label.split(':', 1)[1]}) still requested")
                    del chip.requested[offset]
        for chip in [c for c in self.chips.values() if c.owner == module.name]:
            leaks.append(f"gpio chip {chip.label} (GPIOs {chip.base}-{chip.base + chip.ngpio - 1}) still registered")
            _remove(k, chip.gc)
        return leaks


def _chips(k: Kernel) -> GpioChips:
    return k.subsystem(GpioChips)


def _find_base(chips: GpioChips, ngpio: int) -> int:
    """gpiochip_find_base: the highest free block of ``ngpio`` numbers below ARCH_NR_GPIOS."""
    base = ARCH_NR_GPIOS - ngpio
    for chip in sorted(chips.chips.values(), key=lambda c: -c.base):
        if chip.base + chip.ngpio <= base:
            break
        base = chip.base - ngpio
    return base


@service("int gpiochip_add_data_with_key(struct gpio_chip *gc, void *data, struct lock_class_key *lock_key, "
         "struct lock_class_key *request_key)")
def gpiochip_add_data_with_key(k: Kernel, gc: int, data: int, lock_key: int, request_key: int) -> int:
    """Register the chip: its numbers (dynamic below 512 for a negative base), 0 or -EINVAL/-EBUSY/-ENOSPC."""
    chips = _chips(k)
    fields = Fields(k.memory, "gpio_chip", gc)
    ngpio = fields["ngpio"]
    label = guest_string(k, fields["label"], 64) if fields["label"] else "unknown"
    if gc in chips.chips or ngpio == 0:
        return -EINVAL
    base = signed32(fields["base"])
    if base < 0:
        base = _find_base(chips, ngpio)
        if base < 0:
            k.console_write(f"gpio gpiochip: cannot find free range for {label}\n", 3)
            return -28  # -ENOSPC
        fields["base"] = base
    elif any(c.base < base + ngpio and base < c.base + c.ngpio for c in chips.chips.values()):
        k.console_write(f"gpio gpiochip: GPIO integer space overlap, cannot add chip {label}\n", 3)
        return -EBUSY
    descs = allocate(k, DESC_SIZE * ngpio, owner="kernel")
    if not descs:
        return -12
    module = k.caller_module()
    chips.chips[gc] = GpioChip(gc, base, ngpio, data, descs, module.name if module else "kernel", label)
    k.trace.add("note", "gpiochip", fields={"label": label, "base": base, "ngpio": ngpio})
    return 0


def _remove(k: Kernel, gc: int) -> None:
    chip = _chips(k).chips.pop(gc, None)
    if chip is None:
        return
    if chip.requested:
        k.console_write(f"gpio gpiochip: REMOVING GPIOCHIP WITH GPIOS STILL REQUESTED ({chip.label})\n", 2)
    release(k, chip.descs)


@service("void gpiochip_remove(struct gpio_chip *gc)")
def gpiochip_remove(k: Kernel, gc: int) -> None:
    """Take the chip away (its lines vanish with it)."""
    _remove(k, gc)


@service("int devm_gpiochip_add_data_with_key(struct device *dev, struct gpio_chip *gc, void *data, "
         "struct lock_class_key *lock_key, struct lock_class_key *request_key)")
def devm_gpiochip_add_data_with_key(k: Kernel, dev: int, gc: int, data: int, lock_key: int, request_key: int) -> int:
    """gpiochip_add_data_with_key, removed when ``dev``'s driver unbinds."""
    result = gpiochip_add_data_with_key(k, gc, data, lock_key, request_key)
    if result == 0:
        devres.add(k, dev, "gpiochip", gc, release_fn=lambda k: _remove(k, gc))
    return result


@service("void *gpiochip_get_data(struct gpio_chip *gc)")
def gpiochip_get_data(k: Kernel, gc: int) -> int:
    """The data the driver registered the chip with."""
    chip = _chips(k).chips.get(gc)
    return chip.data if chip is not None else 0


# -- lines ---------------------------------------------------------------------------------------

def _line(k: Kernel, desc: int, what: str) -> tuple[GpioChip, int] | None:
    """The chip and offset of a descriptor; None for NULL (an absent optional GPIO)."""
    if not desc:
        return None
    if is_err(desc):
        raise GuestFault("bad-pointer", f"{what}() at {k.symbolizer.short(k.current_caller)} on ERR_PTR({signed32(desc)}):"
                         " the gpiod_get() result was not checked", pc=k.current_caller, address=desc)
    found = _chips(k).by_desc(desc)
    if found is None:
        raise GuestFault("bad-pointer", f"{what}() at {k.symbolizer.short(k.current_caller)} on {desc:#x}, "
                         "not a GPIO descriptor", pc=k.current_caller, address=desc)
    return found


def _callback(k: Kernel, chip: GpioChip, name: str) -> int:
    return Fields(k.memory, "gpio_chip", chip.gc)[name]


def line_get(k: Kernel, chip: GpioChip, offset: int) -> int:
    """The chip's get(gc, offset): 0/1, or -errno (-EIO without a get)."""
    get = _callback(k, chip, "get")
    if not get:
        return -5
    value = signed32(k.call_function_pointer(get, chip.gc, offset))
    return value if value < 0 else int(bool(value))


def line_set(k: Kernel, chip: GpioChip, offset: int, value: int) -> None:
    """The chip's set(gc, offset, value)."""
    setter = _callback(k, chip, "set")
    if setter:
        k.call_function_pointer(setter, chip.gc, offset, int(bool(value)))


def line_output(k: Kernel, chip: GpioChip, offset: int, value: int) -> int:
    """direction_output(gc, offset, value), or set() for a chip without it; its result."""
    output = _callback(k, chip, "direction_output")
    if output:
        return signed32(k.call_function_pointer(output, chip.gc, offset, int(bool(value))))
    line_set(k, chip, offset, value)
    return 0


def line_input(k: Kernel, chip: GpioChip, offset: int) -> int:
    """direction_input(gc, offset): its result, 0 for a chip without it."""
    direction_input = _callback(k, chip, "direction_input")
    return signed32(k.call_function_pointer(direction_input, chip.gc, offset)) if direction_input else 0


@service("int gpiod_get_value(const struct gpio_desc *desc)")
def gpiod_get_value(k: Kernel, desc: int) -> int:
    """The line's value (0 for an absent optional GPIO)."""
    found = _line(k, desc, "gpiod_get_value")
    return line_get(k, *found) if found else 0


@service("int gpiod_get_value_cansleep(const struct gpio_desc *desc)")
def gpiod_get_value_cansleep(k: Kernel, desc: int) -> int:
    """As gpiod_get_value, from a context that may sleep."""
    return gpiod_get_value(k, desc)


@service("void gpiod_set_value(struct gpio_desc *desc, int value)")
def gpiod_set_value(k: Kernel, desc: int, value: int) -> None:
    """Drive the line (nothing for an absent optional GPIO)."""
    found = _line(k, desc, "gpiod_set_value")
    if found:
        line_set(k, *found, value)


@service("void gpiod_set_value_cansleep(struct gpio_desc *desc, int value)")
def gpiod_set_value_cansleep(k: Kernel, desc: int, value: int) -> None:
    """As gpiod_set_value, from a context that may sleep."""
    gpiod_set_value(k, desc, value)


@service("int gpiod_direction_output(struct gpio_desc *desc, int value)")
def gpiod_direction_output(k: Kernel, desc: int, value: int) -> int:
    """Make the line an output at ``value``: 0, or the chip's error (0 for NULL)."""
    found = _line(k, desc, "gpiod_direction_output")
    return line_output(k, *found, value) if found else 0


@service("int gpiod_direction_output_raw(struct gpio_desc *desc, int value)")
def gpiod_direction_output_raw(k: Kernel, desc: int, value: int) -> int:
    """As gpiod_direction_output (no active-low lines without board tables)."""
    return gpiod_direction_output(k, desc, value)


@service("int gpiod_direction_input(struct gpio_desc *desc)")
def gpiod_direction_input(k: Kernel, desc: int) -> int:
    """Make the line an input: 0, or the chip's error (0 for NULL)."""
    found = _line(k, desc, "gpiod_direction_input")
    return line_input(k, *found) if found else 0


@service("int gpiod_to_irq(const struct gpio_desc *desc)")
def gpiod_to_irq(k: Kernel, desc: int) -> int:
    """The chip's to_irq for the line; -EINVAL for NULL, -ENXIO for a chip without interrupts."""
    found = _line(k, desc, "gpiod_to_irq")
    if not found:
        return -EINVAL
    chip, offset = found
    to_irq = _callback(k, chip, "to_irq")
    return signed32(k.call_function_pointer(to_irq, chip.gc, offset)) if to_irq else -6


@service("int gpiod_cansleep(const struct gpio_desc *desc)")
def gpiod_cansleep(k: Kernel, desc: int) -> int:
    """Whether the chip's accesses may sleep (its can_sleep); 0 for NULL."""
    found = _line(k, desc, "gpiod_cansleep")
    return Fields(k.memory, "gpio_chip", found[0].gc)["can_sleep"] if found else 0


# -- lookups ---------------------------------------------------------------------------------------

def _lookup(k: Kernel, dev: int, con_id: int, optional: bool) -> int:
    # No device tree, no ACPI, no board lookup tables: nothing maps a consumer to a line.
    return 0 if optional else err_ptr(ENOENT)


@service("struct gpio_desc *gpiod_get(struct device *dev, const char *con_id, enum gpiod_flags flags)")
def gpiod_get(k: Kernel, dev: int, con_id: int, flags: int) -> int:
    """ERR_PTR(-ENOENT): no description maps the function to a line on this PC."""
    return _lookup(k, dev, con_id, False)


@service("struct gpio_desc *gpiod_get_optional(struct device *dev, const char *con_id, enum gpiod_flags flags)")
def gpiod_get_optional(k: Kernel, dev: int, con_id: int, flags: int) -> int:
    """NULL: the optional GPIO is absent."""
    return _lookup(k, dev, con_id, True)


@service("struct gpio_desc *gpiod_get_index(struct device *dev, const char *con_id, unsigned int idx, "
         "enum gpiod_flags flags)")
def gpiod_get_index(k: Kernel, dev: int, con_id: int, idx: int, flags: int) -> int:
    """ERR_PTR(-ENOENT), as gpiod_get."""
    return _lookup(k, dev, con_id, False)


@service("struct gpio_desc *devm_gpiod_get(struct device *dev, const char *con_id, enum gpiod_flags flags)")
def devm_gpiod_get(k: Kernel, dev: int, con_id: int, flags: int) -> int:
    """ERR_PTR(-ENOENT), as gpiod_get."""
    return _lookup(k, dev, con_id, False)


@service("struct gpio_desc *devm_gpiod_get_optional(struct device *dev, const char *con_id, enum gpiod_flags flags)")
def devm_gpiod_get_optional(k: Kernel, dev: int, con_id: int, flags: int) -> int:
    """NULL, as gpiod_get_optional."""
    return _lookup(k, dev, con_id, True)


@service("struct gpio_desc *devm_gpiod_get_index(struct device *dev, const char *con_id, unsigned int idx, "
         "enum gpiod_flags flags)")
def devm_gpiod_get_index(k: Kernel, dev: int, con_id: int, idx: int, flags: int) -> int:
    """ERR_PTR(-ENOENT), as gpiod_get."""
    return _lookup(k, dev, con_id, False)


@service("void gpiod_put(struct gpio_desc *desc)")
def gpiod_put(k: Kernel, desc: int) -> None:
    """Give a line back (nothing for NULL)."""
    found = _line(k, desc, "gpiod_put")
    if found:
        found[0].requested.pop(found[1], None)


# -- legacy numbers ---------------------------------------------------------------------------------

@service("struct gpio_desc *gpio_to_desc(unsigned int gpio)")
def gpio_to_desc(k: Kernel, gpio: int) -> int:
    """The descriptor of a registered chip's line ``gpio``, or NULL."""
    found = _chips(k).by_number(gpio)
    return found[0].descs + DESC_SIZE * found[1] if found else 0


@service("int desc_to_gpio(const struct gpio_desc *desc)")
def desc_to_gpio(k: Kernel, desc: int) -> int:
    """The line's global number; -1 for NULL."""
    found = _chips(k).by_desc(desc) if desc else None
    return found[0].base + found[1] if found else -1


@service("int gpio_request(unsigned int gpio, const char *label)")
def gpio_request(k: Kernel, gpio: int, label: int) -> int:
    """Claim line ``gpio``: 0; -EPROBE_DEFER while no chip has it; -EBUSY if it is claimed."""
    if not 0 <= gpio < ARCH_NR_GPIOS:
        return -EINVAL
    found = _chips(k).by_number(gpio)
    if found is None:
        return -EPROBE_DEFER
    chip, offset = found
    if offset in chip.requested:
        return -EBUSY
    module = k.caller_module()
    text = guest_string(k, label, 64) if label else "?"
    chip.requested[offset] = f"{module.name if module else 'kernel'}:{text}"
    return 0


@service("void gpio_free(unsigned int gpio)")
def gpio_free(k: Kernel, gpio: int) -> None:
    """Release line ``gpio`` (Linux WARNs for one not requested)."""
    found = _chips(k).by_number(gpio)
    if found is None or found[1] not in found[0].requested:
        k.warn(f"gpio_free({gpio}) at {k.symbolizer.short(k.current_caller)}: not requested")
        return
    del found[0].requested[found[1]]


# -- from Python -------------------------------------------------------------------------------------

class ChipView:
    """A registered GPIO chip as a test sees it: its numbers and its lines through the driver's callbacks."""

    def __init__(self, kernel: Kernel, chip: GpioChip) -> None:
        self._k, self.chip = kernel, chip
        self.label, self.base, self.ngpio = chip.label, chip.base, chip.ngpio

    def get(self, offset: int) -> int:
        """The line's value as the chip's get() reads it."""
        return line_get(self._k.service_context, self.chip, offset)

    def set(self, offset: int, value: int) -> None:
        """Drive the line through the chip's set()."""
        line_set(self._k.service_context, self.chip, offset, value)

    def output(self, offset: int, value: int) -> int:
        """direction_output(); its result."""
        return line_output(self._k.service_context, self.chip, offset, value)

    def input(self, offset: int) -> int:
        """direction_input(); its result."""
        return line_input(self._k.service_context, self.chip, offset)


def gpio_chips(k: Kernel) -> dict[str, ChipView]:
    """The registered chips by label."""
    return {chip.label: ChipView(k, chip) for chip in k.subsystem(GpioChips).chips.values()}
