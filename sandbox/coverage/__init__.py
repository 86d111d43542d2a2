"""Block and line coverage of loaded modules (translation-time, no per-block hook)."""

from .collector import Coverage
from .report import FunctionCoverage, ModuleReport, write_lcov

__all__ = ["Coverage", "FunctionCoverage", "ModuleReport", "write_lcov"]
