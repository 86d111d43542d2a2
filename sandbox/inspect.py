"""``python -m sandbox info FILE``: what a module file is, without a machine.

Everything here comes from the checked ElfImage and the profile's lists of
services; no Unicorn instance is created.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .elf import constants as c
from .elf.image import ElfImage
from .formats import open_file
from .link.reloc_types import reloc_type_name
from .profile import Profile, get_profile
from .services.headers import declared_functions

_KINDS = {c.ET_REL: "relocatable object", c.ET_DYN: "shared object", c.ET_EXEC: "executable with kept relocations"}
_FLAG_LETTERS = ((c.SHF_WRITE, "W"), (c.SHF_ALLOC, "A"), (c.SHF_EXECINSTR, "X"), (c.SHF_MERGE, "M"), (c.SHF_STRINGS, "S"))


def _flags(value: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if value & bit)


def _toolchain(image: ElfImage) -> list[str]:
    comment = image.section_by_name(".comment")
    hints = []
    if comment is not None:
        for text in bytes(image.section_bytes(comment)).split(b"\0"):
            if text.strip():
                hints.append(text.decode("utf-8", "replace").strip())
    if image.section_by_name(".gnu.linkonce.this_module") is not None:
        hints.append("Linux kbuild module (.gnu.linkonce.this_module)")
    return hints


def describe_file(path: str, profile_name: str | Profile = "generic") -> dict[str, Any]:
    """A JSON-ready description of the module file at ``path`` (against a profile's services)."""
    fmt, image = open_file(path)
    profile = get_profile(profile_name)
    services, variables, code = profile.collect()
    implemented = {s.name for s in services} | {v.name for v in variables} | {c.name for c in code}
    declared = {name for d in profile.include_dirs for name in declared_functions(str(d))}
    undefined = sorted(fmt.imports(image))
    if not isinstance(image, ElfImage):
        described = fmt.describe(image)
        described.update(file=path, undefined=undefined, profile=profile.name,
                         unresolved=[n for n in undefined if n not in implemented and n not in declared],
                         unimplemented=[n for n in undefined if n in declared and n not in implemented])
        if "imports_by_dll" in described:  # PE: names are per DLL; another module's DLL is unresolved until loaded
            from .formats.pe.dlls import dll_stem, kernel_dll_names

            kernel_dlls = kernel_dll_names(profile)
            for imported in described["imports_by_dll"]:
                stem = dll_stem(imported["dll"])
                imported["provider"] = "kernel" if imported["dll"].lower() in kernel_dlls or stem in kernel_dlls \
                    else f"module {stem}"
            described["unresolved"] = [
                f"{i['dll']}!{n}" for i in described["imports_by_dll"] for n in i["names"]
                if i["provider"] != "kernel" or n.startswith("#") or (n not in implemented and n not in declared)]
        return described
    table = image.symtab or image.dynsym
    defined = []
    if table is not None:
        for i in range(1, table.count):
            if table.st_shndx[i] != c.SHN_UNDEF and table.names[i] and table.st_info[i] & 0xF in (c.STT_FUNC, c.STT_OBJECT):
                defined.append({"name": table.names[i], "value": table.st_value[i], "size": table.st_size[i],
                                "bind": ("local", "global", "weak")[min(table.st_info[i] >> 4, 2)],
                                "type": "function" if table.st_info[i] & 0xF == c.STT_FUNC else "object"})
    relocations: Counter[str] = Counter()
    for reloc in image.reloc_tables:
        if reloc.target is None or reloc.target_is_alloc:
            relocations.update(reloc_type_name(t) for t in reloc.r_type)
    return {
        "file": path,
        "name": fmt.module_name(image),
        "format": _KINDS[image.e_type],
        "toolchain": _toolchain(image),
        "sections": [
            {"index": s.index, "name": s.name, "type": s.sh_type, "address": s.sh_addr, "size": s.sh_size, "flags": _flags(s.sh_flags)}
            for s in image.sections if s.index
        ],
        "segments": [
            {"type": seg.p_type, "vaddr": seg.p_vaddr, "memsz": seg.p_memsz, "flags": seg.p_flags} for seg in image.segments
        ],
        "defined": defined,
        "undefined": undefined,
        "relocations": dict(sorted(relocations.items())),
        "modinfo": [{"key": k, "value": v} for k, v in image.modinfo],
        "parameters": _parameters(image),
        "exports": sorted(fmt.provides(image)),
        "unresolved": [n for n in undefined if n not in implemented and n not in declared],
        "unimplemented": [n for n in undefined if n in declared and n not in implemented],
        "profile": profile.name,
    }


def _parameters(image: ElfImage) -> list[dict[str, str]]:
    """Each parameter with its type and description, from ``parmtype=``/``parm=`` (as modinfo shows them)."""
    found: dict[str, dict[str, str]] = {}
    for key, value in image.modinfo:
        if key in ("parm", "parmtype"):
            name, _, text = value.partition(":")
            entry = found.setdefault(name, {"name": name, "type": "", "description": ""})
            entry["type" if key == "parmtype" else "description"] = text
    return list(found.values())


def format_description(info: dict[str, Any]) -> str:
    """The human view of :func:`describe_file`."""
    lines = [f"{info['file']}: {info['name']} ({info['format']})"]
    lines += [f"  toolchain: {hint}" for hint in info["toolchain"]]
    lines.append("sections:")
    for s in info["sections"]:
        if s["flags"] or s["size"]:
            lines.append(f"  [{s['index']:2}] {s['name']:<24} {s['address']:#010x} {s['size']:#8x} {s['flags']}")
    lines.append("modinfo:")
    lines += [f"  {m['key']}={m['value']}" for m in info["modinfo"]] or ["  (none)"]
    if info.get("parameters"):
        lines.append("parameters:")
        lines += [f"  {p['name']} ({p['type']}){': ' + p['description'] if p['description'] else ''}" for p in info["parameters"]]
    lines.append(f"exports: {', '.join(info['exports']) or '(none)'}")
    functions = [d["name"] for d in info["defined"] if d["type"] == "function" and d["bind"] != "local"]
    lines.append(f"defined: {len(info['defined'])} symbols; global functions: {', '.join(functions) or '(none)'}")
    lines.append(f"undefined: {', '.join(info['undefined']) or '(none)'}")
    if "imports_by_dll" in info:
        lines.append(f"PE: machine {info['machine']}, subsystem {info['subsystem']}, ImageBase {info['image_base']:#x}, "
                     f"SizeOfImage {info['size_of_image']:#x}, entry point RVA {info['entry_point']:#x}")
        lines += [f"  imports from {i['dll']} ({i['provider']}{', delay-load' if i['delayed'] else ''}): "
                  f"{', '.join(i['names'])}" for i in info["imports_by_dll"]]
        lines += [f"  export ordinal {e['ordinal']}: {', '.join(e['names']) or '(no name)'}"
                  + (f" -> {e['forwarder']}" if e["forwarder"] else "") for e in info["export_ordinals"]]
    lines.append("relocations: " + (", ".join(f"{k} x{v}" for k, v in info["relocations"].items()) or "(none)"))
    lines.append(f"against profile {info['profile']}: "
                 + (f"unresolved {', '.join(info['unresolved'])}" if info["unresolved"] else "every import resolves")
                 + (f"; declared but not implemented: {', '.join(info['unimplemented'])}" if info["unimplemented"] else ""))
    return "\n".join(lines)
