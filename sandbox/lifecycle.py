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

from .alternatives import apply_alternatives, apply_paravirt
from .bugtable import forget as forget_bug_table
from .bugtable import install as install_bug_table
from .errors import LoadError, UnloadError
from .extable import forget as forget_extable
from .extable import install as install_extable
from .formats import open_image
from .jumptable import forget as forget_jump_table
from .jumptable import install as install_jump_table
from .licenses import check_gpl_imports
from .link.plan import LinkPlan
from .machine.memory import R, W
from .modfile import read_module_file
from .module import Module, UnloadReport
from .params import apply_params, is_linux_layout, release_params
from .symbolizer import SymbolRange
from .wellknown import WellKnownTable, bind_well_known, checked_table

if TYPE_CHECKING:
    from .kernel import Kernel


def load(k: Kernel, path: str | Path, params: dict[str, object] | str | None = None, *, run_init: bool = True,
         well_known: WellKnownTable | None = None) -> Module:
    """Parse, check, place, relocate, link and map a module, then run init.

    ``params`` sets module parameters (``module_param``) before init, each
    checked against its declared type. Raises LoadError (nothing of the
    module is left behind) or GuestFault if init crashed (also unwound).
    ``.ko.xz`` / ``.ko.gz`` files are decompressed first. With
    ``run_init=False`` the module is mapped and its exports published but
    neither its init nor (at unload) its exit runs. ``well_known`` changes
    entries of the well-known names table for this module only.
    """
    path = str(path)
    data = read_module_file(path)
    return load_bytes(k, data, path, params, run_init, well_known)


def load_bytes(k: Kernel, data: bytes, path: str, params: dict[str, object] | str | None = None,
               run_init: bool = True, well_known: WellKnownTable | None = None) -> Module:
    """:func:`load` for bytes already read (``path`` names them in errors)."""
    fmt, image = open_image(data, path)
    if k.check_vermagic and k.profile.vermagic is not None:
        fmt.check_vermagic(image, k.profile.vermagic)
    for check in k.profile.load_checks:
        check(image, k.profile)
    plan = fmt.plan(image)
    if plan.name in k.module_table:
        raise LoadError(path, "duplicate-module", f"a module named {plan.name} is already loaded")
    # Binding may hand out trap stubs and stubs for declared-but-unimplemented
    # functions; a failed load takes them back with everything else.
    # Bookmarks, not copies: a load only adds, and a copy per load grew with every trap handed out.
    bound, trapped = k.dispatcher.mark(), k.traps.mark()
    undo: list[Callable[[], None]] = [lambda: (k.traps.rollback(trapped), k.dispatcher.rollback(bound))]
    try:
        table = k.well_known if not well_known else {**k.well_known, **checked_table(well_known)}
        module = map_module(k, plan, undo, table)
        install_extable(k, module)  # removed at unload by its subsystem's release_module
        undo.append(lambda: forget_extable(k, module))
        install_jump_table(k, module)  # likewise
        undo.append(lambda: forget_jump_table(k, module))
        install_bug_table(k, module)  # likewise
        undo.append(lambda: forget_bug_table(k, module))
        apply_alternatives(k, module)  # patches the module's own code only: its unmapping undoes it
        apply_paravirt(k, module)
        if params or is_linux_layout(plan):
            undo.append(lambda: release_params(plan, k))
            blocks = apply_params(plan, k.memory, params, kernel=k)
            module.param_blocks.extend(blocks)
            undo.append(lambda: [k.memory.free(b) for b in blocks])
        start_module(k, module, undo, run_init, table)
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
        base = k.module_table.area.allocate(size)
        if base is None:
            raise LoadError(plan.image.name, "module-area-full", f"no room for {size:#x} bytes of {allocation}")
        bases[allocation] = base
        undo.append(lambda b=base: k.module_table.area.free(b))
    return bases


def map_module(k: Kernel, plan: LinkPlan, undo: list[Callable[[], None]], table: WellKnownTable | None = None) -> Module:
    """Steps 2-5 and mapping: place, bind, relocate, read exports, map with permissions.

    Names the profile's entry conventions consume (init/exit names, the
    well-known ``table``) are the module's bindings, never its exports.
    """
    needed = [Path(n).name.split(".")[0].replace("-", "_") for n in getattr(plan, "needed", [])]
    for name in needed:
        if name not in k.module_table:
            raise LoadError(plan.image.name, "needed-module", f"{plan.name} needs module {name} (DT_NEEDED), which is not loaded")
    plan.place(reserve(k, plan, undo))
    plan.bind(k.traps.resolver(plan.image) if k.unresolved == "trap" else ExportResolver(k))
    check_gpl_imports(k, plan)
    map_writable(k, plan, undo)
    plan.relocate(k.relocator)
    seal(k, plan)
    consumed = k.profile.entry.consumed_names(k.well_known if table is None else table)
    exports = [e for e in plan.read_exports() if e.name not in consumed]
    k.exports.check_publishable(plan.image.name, plan.name, [entry.name for entry in exports])
    register_symbols(k, plan)
    undo.append(lambda: k.symbolizer.remove_owner(plan.name, len(k.trace)))
    module = Module(k, plan, exports)
    module.init_entry = k.profile.entry.find_init(k, module)
    k.module_table.add(module)
    undo.append(lambda: k.module_table.remove(plan.name))
    if k.coverage.enabled:
        k.coverage.module_mapped(module)
        undo.append(lambda: k.coverage.module_gone(module))
    # The modules whose exports it imports (one dict lookup per import, in C).
    module.uses.update(k.exports.owners(list(plan.imports)))
    module.uses.discard("kernel")
    module.uses.update(needed)
    module.uses.update(getattr(plan, "used_modules", ()))  # a PE plan binds imports to named DLLs (modules)
    for used in module.uses:
        k.module_table.get(used).used_by.add(module.name)
        undo.append(lambda u=used: k.module_table.get(u).used_by.discard(module.name))
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


_NO_SYMBOLS: list = []  # shared by symbol-less areas; never mutated


def section_ranges(plan: LinkPlan, start: int, end: int) -> list[SymbolRange]:
    """One SymbolRange per loaded section of ``plan`` inside [start, end), with its symbols."""
    per_section = plan.section_symbols()
    ranges = []
    for section in plan.image.sections:
        address = plan.section_address(section)
        if address is None or section.sh_size == 0 or not start <= address < end:
            continue
        entries = per_section.get(section.index)
        if not entries:  # most sections of a many-section file: no symbol lists to build
            ranges.append(SymbolRange(address, address + max(section.sh_size, 1), plan.name, section.name,
                                      section.is_exec, _NO_SYMBOLS, _NO_SYMBOLS, _NO_SYMBOLS))
            continue
        ranges.append(SymbolRange(
            address, address + max(section.sh_size, 1), plan.name, section.name,
            section.is_exec, [e[0] for e in entries], [e[2] for e in entries],
            [e[0] + max(e[1], 1) for e in entries],
        ))
    return ranges


def start_module(k: Kernel, module: Module, undo: list[Callable[[], None]], run_init: bool = True,
                 table: WellKnownTable | None = None) -> None:
    """Run init (unless told not to), publish exports, bind well-known names, release init memory.

    Which function is init, with which arguments, and what counts as its
    failure is the profile's entry policy (``module.init_entry``); the exit is
    asked for once init has run, so an init may hand the kernel its exit.
    """
    undo.append(lambda: record_leaks(k, module.name, release_owned(k, module)))
    module.init_ran = run_init
    entry = module.init_entry
    if run_init and entry is not None:
        arguments = entry.argument_values(k, module)
        started = perf_counter_ns()
        result = k.call(entry.address, *arguments, convention=entry.convention)
        event = k.trace.add("init", module.name, module=module.name, result=result)
        event.ts, event.dur = started, perf_counter_ns() - started
        failure = entry.failure(result)
        if failure is not None:
            raise LoadError(module.path, "init-failed", f"{entry.name} of {module.name} {failure}")
    if run_init:
        module.exit_entry = k.profile.entry.find_exit(k, module)
    k.exports.publish(module.name, module.exports)
    undo.append(lambda: k.exports.withdraw(module.name, module.exports))
    bind_well_known(k, module, k.well_known if table is None else table,
                    k.profile.entry.device_files or k.profile.files)
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
    k.module_table.release_init(base, base + size, module.name)
    module.init_released = True


def record_leaks(k: Kernel, name: str, leaks: list[str]) -> None:
    """One ``leak`` trace event per leaked item."""
    for leak in leaks:
        k.trace.add("leak", name, module=name, fields={"what": leak})


def release_owned(k: Kernel, module: Module) -> list[str]:
    """Free what a module left registered; describe each item found."""
    leaks: list[str] = k.device_nodes.orphan_files(k, module.name)
    for action in k.irqs.owned_by(module.name):
        k.irqs.unregister(action.line, action.dev_id)
        if action.name not in module.bindings:  # the kernel made that one itself
            leaks.append(f"IRQ {action.line} handler {action.name!r} still registered")
    for node in k.device_nodes.owned_by(module.name):
        for handle in [f for f in k.device_nodes.open_files if f.node is node]:
            handle.closed = True
            k.device_nodes.open_files.discard(handle)
        k.device_nodes.nodes.pop(node.path, None)
        if node.style == "fops":
            leaks.append(f"character device {node.path} (major {node.major}) still registered")
    # Each subsystem frees what the module left with it (a failing one is
    # reported and the others still run: the module is always forgotten).
    leaks.extend(k.subsystems.release_module(module))
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
        entry = module.exit_entry
        if entry is not None and module.init_ran:
            arguments = entry.argument_values(k, module)
            started = perf_counter_ns()
            k.call(entry.address, *arguments, convention=entry.convention)
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
    k.exports.withdraw(module.name, module.exports)
    for used in module.uses:
        user_of = k.module_table.find(used)
        if user_of is not None:
            user_of.used_by.discard(module.name)
    plan = module.plan
    for extent in plan.layout.extents:
        if not (extent.allocation == "init" and module.init_released):
            k.memory.unmap(plan.bases[extent.allocation] + extent.offset, extent.size)
    for allocation, base in plan.bases.items():
        if allocation == "init" and module.init_released:
            k.module_table.forget_released(base)
        k.module_table.area.free(base)
    for block in module.param_blocks:
        k.memory.free(block)
    k.symbolizer.remove_owner(module.name, len(k.trace))
    k.module_table.remove(module.name)
    module.state = "gone"

