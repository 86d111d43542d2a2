"""Profiles: the kernel a module sees, as a value anyone can build.

A :class:`Profile` says everything that differs between kernels and that the
engine must not decide: which services are exported (importable modules,
module objects, ``@service`` functions, or lists of them), the calling
convention, the header directories whose declarations bind to named stubs,
how a module's entry points are found (:mod:`sandbox.entrypoints`), the tick
rate and boot jiffies, vermagic and other load checks, what each service
returns when fault injection fails it, which exported variables the tick
updates, and how a plain character device's operations are called.

Profiles come from three places, looked up in this order:

1. :func:`register_profile` in the running program;
2. the entry-point group ``module_sandbox.profiles`` of installed packages
   (``name = "package.module:OBJECT"``, a Profile or a function returning
   one) — the built-in ``generic``, ``generic-regparm`` and ``linux`` come
   this way; in a source checkout that is not installed, the group is read
   from the checkout's ``pyproject.toml`` too;
3. a file: ``"path/to/file.py:NAME"`` imports the file and takes ``NAME``.

``Kernel(profile=Profile(...))`` takes a value directly, and
``Kernel("name")`` any of the above. An unknown name raises
:class:`UnknownProfile` listing the known ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .entrypoints import EntryPolicy
from .errors import SandboxError
from .services.registry import CodeSpec, ServiceSpec, VariableSpec, collect_values

if TYPE_CHECKING:
    from .devices.chardev import FileBackend
    from .elf.image import ElfImage

ENTRY_POINT_GROUP = "module_sandbox.profiles"

# The default tick rate of a profile that names none (a hobby kernel's PIT at 100 Hz).
DEFAULT_HZ = 100


class UnknownProfile(SandboxError, ValueError):
    """No profile by that name (or the file/entry point naming it is broken)."""


LoadCheck = Callable[["ElfImage", "Profile"], None]


@dataclass(frozen=True, eq=False)
class Profile:
    """One kernel's policy: its services, calling convention, headers and conventions.

    ``services`` items may be a dotted module name, a module object, an
    ``@service`` function, a ``kernel_variable``/``kernel_code`` value, or a
    list/tuple of those. ``include_dirs`` (or one ``include_dir``) are the
    header directories drivers compile against. ``entry`` finds init/exit
    and the well-known names; the default finds nothing, so a profile says
    which entry points its kernel calls. ``load_checks`` are called with the
    checked image and the profile before linking; raise LoadError to refuse.
    ``failure_values``: what a call made to fail by fault injection returns,
    per service. ``tick_variables``: (name, size) of the exported variables
    the tick writes the jiffies count into. ``files``: how the operations of
    a character device registered without its own backend are called (the
    profile's ``struct file`` layout), None if its kernel has none.
    ``arch``: the architecture its modules are built for (None: i386).
    ``pe_kernel_dlls``: the DLL names a PE module's imports from the kernel
    name (``ntoskrnl.exe``, ``hal.dll``); empty: ``kernel.sys``,
    ``kernel.dll``, ``kernel32.dll``, ``ntoskrnl.exe`` and ``hal.dll``. Any
    other DLL name is the loaded module of that name. ``views``: Python
    views of the kernel's state the profile offers, by name, each a
    ``"module:function"`` called with the Kernel (``k.view("sysfs")``, also
    ``k.sysfs``).
    """

    name: str
    convention: str = "cdecl"
    services: tuple[Any, ...] = ()
    include_dirs: tuple[Path, ...] = ()
    entry: EntryPolicy = field(default_factory=EntryPolicy)
    hz: int = DEFAULT_HZ
    initial_jiffies: int = 0
    vermagic: str | None = None
    load_checks: tuple[LoadCheck, ...] = ()
    failure_values: Mapping[str, int] = field(default_factory=dict)
    tick_variables: tuple[tuple[str, int], ...] = ()
    files: FileBackend | None = None
    arch: Any = None  # a sandbox.arch Architecture; None: i386
    pe_kernel_dlls: tuple[str, ...] = ()
    network: Any = None  # kernel -> its network front (``Kernel.net``); None: no network stack
    description: str = ""
    views: Mapping[str, str] = field(default_factory=dict)
    include_dir: InitVar[str | Path | None] = None

    def __post_init__(self, include_dir: str | Path | None) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a profile needs a non-empty name")
        dirs = self.include_dirs
        if isinstance(dirs, (str, Path)):
            dirs = (dirs,)
        dirs = tuple(Path(d) for d in dirs)
        if include_dir is not None and Path(include_dir) not in dirs:
            dirs = (Path(include_dir), *dirs)
        object.__setattr__(self, "include_dirs", dirs)
        services = self.services
        if isinstance(services, (str, types.ModuleType)) or callable(services):
            services = (services,)
        object.__setattr__(self, "services", tuple(services))
        object.__setattr__(self, "load_checks", tuple(self.load_checks))
        object.__setattr__(self, "pe_kernel_dlls", (self.pe_kernel_dlls,) if isinstance(self.pe_kernel_dlls, str)
                           else tuple(self.pe_kernel_dlls))
        object.__setattr__(self, "tick_variables", tuple(tuple(v) for v in self.tick_variables))
        object.__setattr__(self, "failure_values", dict(self.failure_values))
        object.__setattr__(self, "views", dict(self.views))
        if self.hz <= 0:
            raise ValueError(f"profile {self.name}: hz must be positive, not {self.hz}")

    def service_modules(self) -> list[types.ModuleType]:
        """The modules among ``services`` (dotted names imported)."""
        return [s for s in (_import_source(x, self.name) for x in _flatten(self.services))
                if isinstance(s, types.ModuleType)]

    def collect(self) -> tuple[list[ServiceSpec], list[VariableSpec], list[CodeSpec]]:
        """Every service, kernel variable and raw-code export the profile names, in order."""
        values: list[object] = []
        for source in _flatten(self.services):
            item = _import_source(source, self.name)
            values.extend(vars(item).values() if isinstance(item, types.ModuleType) else [item])
        return collect_values(values)

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {self.convention!r})"


def _first_include_dir(profile: Profile) -> Path | None:
    """The first header directory (for code that knows only one), None if none."""
    return profile.include_dirs[0] if profile.include_dirs else None


# After the class is made: ``include_dir=`` stays an __init__ argument (an InitVar).
Profile.include_dir = property(_first_include_dir)  # type: ignore[assignment,misc]


def _flatten(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _import_source(source: Any, profile: str) -> Any:
    if not isinstance(source, str):
        return source
    try:
        return importlib.import_module(source)
    except ImportError as error:
        raise UnknownProfile(f"profile {profile}: cannot import service module {source!r}: {error}") from None


# ------------------------------------------------------------------ registry

_registered: dict[str, Profile] = {}
_loaded: dict[str, Profile] = {}  # entry points already loaded, by name


def register_profile(profile: Profile, *, replace: bool = False) -> Profile:
    """Make ``profile`` known by its name to ``Kernel(name)``, the CLI and pytest.

    Registering a second profile under a taken name is a ValueError unless
    ``replace``. Returns the profile, so it can be used as a decorator-like call.
    """
    if not isinstance(profile, Profile):
        raise TypeError(f"register_profile takes a Profile, not {type(profile).__name__}")
    if not replace and (profile.name in _registered or profile.name in _entry_points()):
        raise ValueError(f"a profile named {profile.name!r} is already known (pass replace=True)")
    _registered[profile.name] = profile
    return profile


def unregister_profile(name: str) -> None:
    """Forget a profile :func:`register_profile` added (entry points stay)."""
    _registered.pop(name, None)


def known_profiles() -> list[str]:
    """The names :func:`get_profile` accepts, sorted."""
    return sorted(set(_registered) | set(_entry_points()))


def get_profile(spec: str | Profile, *, base: str | Path | None = None) -> Profile:
    """The profile ``spec`` names: a Profile (returned as is), a known name, or ``file.py:NAME``.

    A relative file path is taken from ``base`` if it exists there, else from
    the current directory. Unknown names raise :class:`UnknownProfile`.
    """
    if isinstance(spec, Profile):
        return spec
    if not isinstance(spec, str):
        raise UnknownProfile(f"a profile is a name or a Profile, not {type(spec).__name__}")
    if spec in _registered:
        return _registered[spec]
    if _is_file_spec(spec):
        return load_profile_file(spec, base=base)
    found = _loaded.get(spec)
    if found is not None:
        return found
    entry = _entry_points().get(spec)
    if entry is None:
        raise UnknownProfile(f"unknown profile {spec!r}; known: {', '.join(known_profiles()) or 'none'}"
                             " (or a file: path/to/file.py:NAME)")
    profile = _load_entry_point(spec, entry)
    _loaded[spec] = profile
    return profile


def _is_file_spec(spec: str) -> bool:
    path, sep, _ = spec.rpartition(":")
    return bool(sep) and path.endswith(".py")


def load_profile_file(spec: str, *, base: str | Path | None = None) -> Profile:
    """``path/to/file.py:NAME``: import the file and return its Profile ``NAME``.

    The file's folder is put on ``sys.path`` (as running a script does), so
    the file may import its sibling modules (its services). ``NAME`` may
    also be a function returning a Profile.
    """
    text, _, attribute = spec.rpartition(":")
    path = Path(text)
    if not path.is_absolute() and base is not None and (Path(base) / path).exists():
        path = Path(base) / path
    path = path.resolve()
    if not path.is_file():
        raise UnknownProfile(f"profile file {text} not found")
    module = _import_file(path)
    value = getattr(module, attribute, None)
    if value is None:
        names = sorted(n for n, v in vars(module).items() if isinstance(v, Profile))
        raise UnknownProfile(f"{text} has no profile {attribute!r}; it defines: {', '.join(names) or 'none'}")
    return _as_profile(value, f"{text}:{attribute}")


_imported_files: dict[Path, types.ModuleType] = {}


def _import_file(path: Path) -> types.ModuleType:
    known = _imported_files.get(path)
    if known is not None:
        return known
    module = _find_or_import(path)
    _imported_files[path] = module
    return module


def _find_or_import(path: Path) -> types.ModuleType:
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
            return module  # imported already (a test module's sibling): the same objects
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"_sandbox_profile_{abs(hash(str(path))):x}_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UnknownProfile(f"cannot import profile file {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise UnknownProfile(f"profile file {path} failed to import: {type(error).__name__}: {error}") from error
    return module


def _as_profile(value: Any, where: str) -> Profile:
    if callable(value) and not isinstance(value, Profile):
        value = value()
    if not isinstance(value, Profile):
        raise UnknownProfile(f"{where} is a {type(value).__name__}, not a Profile")
    return value


def _load_entry_point(name: str, target: str) -> Profile:
    module_name, _, attribute = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name.strip())
        for part in attribute.strip().split(".") if attribute else []:
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise UnknownProfile(f"profile {name!r} (entry point {target}) cannot be loaded: {error}") from None
    profile = _as_profile(value, f"entry point {name} = {target}")
    if profile.name != name:
        raise UnknownProfile(f"entry point {name} = {target} gives a profile named {profile.name!r}")
    return profile


def _entry_points() -> dict[str, str]:
    """name -> "module:object" from installed packages, and from this checkout's pyproject.toml."""
    found = {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    # A checkout run with PYTHONPATH (not installed, or installed from another
    # tree): its own pyproject.toml says what it ships, and wins for those names.
    found.update(_checkout_entry_points())
    return found


_checkout_cache: dict[str, str] | None = None


def _checkout_entry_points() -> dict[str, str]:
    global _checkout_cache
    if _checkout_cache is None:
        _checkout_cache = {}
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        if pyproject.is_file():
            import tomllib

            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                data = {}
            if data.get("project", {}).get("name") == "module-sandbox":
                group = data["project"].get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
                _checkout_cache = {str(k): str(v) for k, v in group.items()}
    return _checkout_cache


__all__ = [
    "ENTRY_POINT_GROUP",
    "Profile",
    "UnknownProfile",
    "get_profile",
    "known_profiles",
    "load_profile_file",
    "register_profile",
    "unregister_profile",
]
