"""How kernel services are declared, decoded and called (never which exist)."""

from .registry import ServiceSpec, kernel_variable, service

__all__ = ["ServiceSpec", "kernel_variable", "service"]
