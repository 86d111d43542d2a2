"""The module life cycle: load (check, place, relocate, map, init) and unload.

The steps run in order, each with one job, and every step that changes
kernel state pushes its undo; any failure unwinds in reverse, so a failed
load leaves the kernel exactly as it was (as Linux's load_module does).
``Kernel.load``/``unload``/``load_all`` are the public doors to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .elf.image import ElfImage
from .errors import LoadError, SandboxError, UnloadError, errno_text
from .extable import forget as forget_extable
from .extable import install as install_extable
from .link.plan import LinkPlan, link_module
from .machine.memory import R, W
from .modfile import check_vermagic, read_module_file
from .module import Module, UnloadReport
from .params import apply_params, is_linux_layout, release_params
from .symbolizer import SymbolRange
from .wellknown import bind_well_known

if TYPE_CHECKING:
    from .kernel import Kernel


def load(k: Kernel, path: str | Path, params: dict[str, object] | str | None = None, *, run_init: bool = True) -> Module:
    """Parse, check, place, relocate, link and map a module, then run init.

    ``params`` sets module parameters (``module_param``) before init, each
    checked against its declared type. Raises LoadError (nothing of the
    module is left behind) or GuestFault if init crashed (also unwound).
    ``.ko.xz`` / ``.ko.gz`` files are decompressed first. With
    ``run_init=False`` the module is mapped and its exports published but
    neither its init nor (at unload) its exit runs.
    """
    path = str(path)
    data = read_module_file(path)
    return load_bytes(k, data, path, params, run_init)


def load_bytes(k: Kernel, data: bytes, path: str, params: dict[str, object] | str | None = None, run_init: bool = True) -> Module:
    """:func:`load` for bytes already read (``path`` names them in errors)."""
    image = ElfImage(data, path)
    if k.check_vermagic and k.profile.vermagic is not None:
        check_vermagic(image, k.profile.vermagic)
    plan = link_module(image)
    if plan.name in k._modules:
        raise LoadError(path, "duplicate-module", f"a module named {plan.name} is already loaded")
    undo: list[Callable[[], None]] = []
    try:
        module = map_module(k, plan, undo)
        install_extable(k, module)  # removed at unload by its subsystem's release_module
        undo.append(lambda: forget_extable(k, module))
        if params or is_linux_layout(plan):
            undo.append(lambda: release_params(plan, k))
            blocks = apply_params(plan, k.memory, params, kernel=k)
            module.param_blocks.extend(blocks)
            undo.append(lambda: [k.memory.free(b) for b in blocks])
        start_module(k, module, undo, run_init)
    except BaseException:
        for step in reversed(undo):
            step()
        raise
    return module


def load_all(k: Kernel, paths: list[str | Path], params: dict[str, dict[str, object]] | None = None) -> list[Module]:
    """Load a set of modules in dependency order (providers first), like modprobe.

    ``params`` maps module name -> parameters. A missing provider or a
    dependency cycle is a LoadError before anything loads; if one module
    of the set fails, the ones this call loaded are unloaded again.
    """
    from .depends import load_order

    loaded: list[Module] = []
    try:
        for candidate in load_order([str(p) for p in paths], k):
            loaded.append(load(k, candidate.path, params=(params or {}).get(candidate.name)))
    except BaseException:
        for module in reversed(loaded):
            unload(k, module)
        raise
    return loaded


def proc_modules(k: Kernel) -> str:
    """The loaded modules as /proc/modules shows them: name size users used-by state base."""
    lines = []
    for module in reversed(k.modules):
        users = ",".join(sorted(module.used_by)) + "," if module.used_by else "-"
        state = {"live": "Live", "coming": "Loading", "going": "Unloading"}.get(module.state, module.state)
        lines.append(f"{module.name} {module.size} {len(module.used_by)} {users} {state} {module.base:#010x}")
    return "\n".join(lines) + ("\n" if lines else "")


class ExportResolver:
    """The linker's resolver under ``unresolved="error"``: exports and declared services only."""

    def __init__(self, k: Kernel) -> None:
        self.kernel = k

    def __call__(self, name: str) -> int | None:
        return self.kernel.resolve(name)

    def many(self, names: list[str]) -> list[int | None]:
        """Every name at once (the linker's way)."""
        return self.kernel.resolve_many(names)


def reserve(k: Kernel, plan: LinkPlan, undo: list[Callable[[], None]]) -> dict[str, int]:
    """Step 2: a base in the module area for each allocation (core, init)."""
    bases: dict[str, int] = {}
    for allocation, size in plan.layout.sizes.items():
        if size == 0:
            continue
        base = k._module_area.allocate(size)
        if base is None:
            raise LoadError(plan.image.name, "module-area-full", f"no room for {size:#x} bytes of {allocation}")
        bases[allocation] = base
        undo.append(lambda b=base: k._module_area.free(b))
    return bases


def map_module(k: Kernel, plan: LinkPlan, undo: list[Callable[[], None]]) -> Module:
    """Steps 2-5 and mapping: place, bind, relocate, read exports, map with permissions."""
    needed = [Path(n).name.split(".")[0].replace("-", "_") for n in getattr(plan, "needed", [])]
    for name in needed:
        if name not in k._modules:
            raise LoadError(plan.image.name, "needed-module", f"{plan.name} needs module {name} (DT_NEEDED), which is not loaded")
    plan.place(reserve(k, plan, undo))
    plan.bind(k.traps.resolver(plan.image) if k.unresolved == "trap" else ExportResolver(k))
    map_writable(k, plan, undo)
    plan.relocate(k.relocator)
    seal(k, plan)
    exports = plan.read_exports()
    for entry in exports:
        owner = k.export_owner(entry.name)
        if owner is not None and not (owner == "kernel" and entry.name in k._stand_ins):
            raise LoadError(
                plan.image.name, "duplicate-export",
                f"{plan.name} exports {entry.name}, which {owner} already exports",
            )
    register_symbols(k, plan)
    undo.append(lambda: k.symbolizer.remove_owner(plan.name, len(k.trace)))
    module = Module(k, plan, exports)
    if k.profile.this_module_init_exit is not None:
        module.find_entry_points(*k.profile.this_module_init_exit)
    k._modules[plan.name] = module
    undo.append(lambda: k._modules.pop(plan.name, None))
    if k.coverage.enabled:
        k.coverage.module_mapped(module)
        undo.append(lambda: k.coverage.module_gone(module))
    # The modules whose exports it imports (one dict lookup per import, in C).
    module.uses.update(entry[1] for entry in map(k._exports.get, plan.imports) if entry is not None)
    module.uses.discard("kernel")
    module.uses.update(needed)
    for used in module.uses:
        k._modules[used].used_by.add(module.name)
        undo.append(lambda u=used: k._modules[u].used_by.discard(module.name))
    k.trace.add("load", module.name, module=module.name, fields={
        "path": plan.image.name, "base": f"{module.base:#x}", "size": module.size,
        "relocations": plan.relocation_count,
    })
    return module


def map_writable(k: Kernel, plan: LinkPlan, undo: list[Callable[[], None]]) -> None:
    """Map the module's extents onto the linker's bytearrays, writable while relocations are applied in place.

    Extent by extent: an already-linked image may have holes between its
    segments, which stay unmapped (and must not be unmapped later).
    """
    for extent in plan.layout.extents:
        start = plan.bases[extent.allocation] + extent.offset
        k.memory.map_buffer(start, extent.size, R | W, f"{plan.name} {extent.label}",
                            plan.memory[extent.allocation], extent.offset)
        undo.append(lambda b=start, s=extent.size: k.memory.unmap(b, s))


def seal(k: Kernel, plan: LinkPlan) -> None:
    """Give each extent its final permissions (text R+X, rodata R), as Linux does after relocating."""
    for extent in plan.layout.extents:
        if extent.perms != R | W:
            k.memory.protect(plan.bases[extent.allocation] + extent.offset, extent.size, extent.perms)


def register_symbols(k: Kernel, plan: LinkPlan) -> None:
    """Tell the symbolizer about the module's allocations; sections and symbols follow on first lookup."""
    born = len(k.trace)
    for allocation, base in plan.bases.items():
        size = plan.layout.sizes[allocation]
        k.symbolizer.add_lazy(base, base + size, plan.name, lambda b=base, s=size: section_ranges(plan, b, b + s), born)


def section_ranges(plan: LinkPlan, start: int, end: int) -> list[SymbolRange]:
    """One SymbolRange per loaded section of ``plan`` inside [start, end), with its symbols."""
    per_section = plan.section_symbols()
    ranges = []
    for section in plan.image.sections:
        address = plan.section_address(section)
        if address is None or section.sh_size == 0 or not start <= address < end:
            continue
        entries = per_section.get(section.index, [])
        ranges.append(SymbolRange(
            address, address + max(section.sh_size, 1), plan.name, section.name,
            section.is_exec, [e[0] for e in entries], [e[2] for e in entries],
            [e[0] + max(e[1], 1) for e in entries],
        ))
    return ranges


def start_module(k: Kernel, module: Module, undo: list[Callable[[], None]], run_init: bool = True) -> None:
    """Run init (unless told not to), publish exports, bind well-known names, release init memory."""
    undo.append(lambda: record_leaks(k, module.name, release_owned(k, module)))
    module.init_ran = run_init
    if run_init and module.init_address is not None:
        started = perf_counter_ns()
        result = k.call(module.init_address)
        event = k.trace.add("init", module.name, module=module.name, result=result)
        event.ts, event.dur = started, perf_counter_ns() - started
        if result < 0:
            raise LoadError(module.path, "init-failed", f"init_module of {module.name} returned {errno_text(result)}")
    for name, address in module.exports.items():
        k._exports[name] = (address, module.name)
    bound = bind_well_known(k, module, k.well_known)
    if bound:
        k.trace.add("note", "well-known", fields={"module": module.name, "bound": bound})
    module.state = "live"
    release_init(k, module)


def release_init(k: Kernel, module: Module) -> None:
    """Unmap the init allocation after a successful init (the range stays reserved)."""
    base = module.plan.bases.get("init")
    if base is None:
        return
    size = module.plan.layout.sizes["init"]
    # The range stays reserved until unload so a stale call into it is
    # reported as released init code rather than as someone else's code.
    k.memory.unmap(base, size)
    k.symbolizer.remove_range(base, base + size, len(k.trace))
    k._released_init.append((base, base + size, module.name))
    module.init_released = True


def released_init_owner(k: Kernel, address: int) -> str | None:
    """The module whose released init range holds ``address``, if any."""
    for start, end, owner in k._released_init:
        if start <= address < end:
            return owner
    return None


def record_leaks(k: Kernel, name: str, leaks: list[str]) -> None:
    """One ``leak`` trace event per leaked item."""
    for leak in leaks:
        k.trace.add("leak", name, module=name, fields={"what": leak})


def release_owned(k: Kernel, module: Module) -> list[str]:
    """Free what a module left registered; describe each item found."""
    leaks: list[str] = []
    for action in k.irqs.owned_by(module.name):
        k.irqs.unregister(action.line, action.dev_id)
        if action.name not in k.well_known:  # the kernel made that one itself
            leaks.append(f"IRQ {action.line} handler {action.name!r} still registered")
    for node in k.device_nodes.owned_by(module.name):
        for handle in [f for f in k.device_nodes.open_files if f.node is node]:
            handle.closed = True
            k.device_nodes.open_files.discard(handle)
        k.device_nodes.nodes.pop(node.path, None)
        if node.style == "fops":
            leaks.append(f"character device {node.path} (major {node.major}) still registered")
    for state in k._subsystems.values():
        release = getattr(state, "release_module", None)
        if release is not None:
            try:
                leaks.extend(release(k, module))
            except SandboxError as error:
                # Cleaning up after one subsystem went wrong (a corrupted block,
                # a stub's bug): report it and go on, so the module is still
                # forgotten and the kernel stays usable.
                leaks.append(f"{type(state).__name__} cleanup failed: {str(error).splitlines()[0]}")
    return leaks


def unload(k: Kernel, module: Module | str) -> UnloadReport:
    """Run the module's exit, release it and report what it leaked."""
    if isinstance(module, str):
        module = k.module(module)
    if module.used_by:
        raise UnloadError(f"module {module.name} is in use by: {', '.join(sorted(module.used_by))}")
    if module.state != "live":
        raise UnloadError(f"module {module.name} is {module.state}, not live")
    module.state = "going"
    report = UnloadReport(module.name)
    try:
        if module.exit_address is not None and module.init_ran:
            started = perf_counter_ns()
            k.call(module.exit_address)
            event = k.trace.add("exit", module.name, module=module.name)
            event.ts, event.dur = started, perf_counter_ns() - started
    finally:
        release_params(module.plan, k)
        report.leaks = release_owned(k, module)
        record_leaks(k, module.name, report.leaks)
        forget(k, module)
    k.trace.add("unload", module.name, module=module.name, fields={"leaks": len(report.leaks)})
    return report


def forget(k: Kernel, module: Module) -> None:
    """Drop every trace of an unloaded module: exports, references, memory, symbols."""
    if k.coverage.enabled:
        k.coverage.module_gone(module)
    for name in module.exports:
        if k._exports.get(name, (0, ""))[1] == module.name:
            del k._exports[name]
            if name in k._stand_ins:
                k._exports[name] = k._stand_ins[name]
    for used in module.uses:
        if used in k._modules:
            k._modules[used].used_by.discard(module.name)
    plan = module.plan
    for extent in plan.layout.extents:
        if not (extent.allocation == "init" and module.init_released):
            k.memory.unmap(plan.bases[extent.allocation] + extent.offset, extent.size)
    for allocation, base in plan.bases.items():
        if allocation == "init" and module.init_released:
            k._released_init = [r for r in k._released_init if r[0] != base]
        k._module_area.free(base)
    for block in module.param_blocks:
        k.memory.free(block)
    k.symbolizer.remove_owner(module.name, len(k.trace))
    del k._modules[module.name]
    module.state = "gone"

