"""How kernel services are declared, decoded and called (never which exist)."""

from .registry import CodeSpec, ServiceSpec, kernel_code, kernel_variable, service

__all__ = ["CodeSpec", "ServiceSpec", "kernel_code", "kernel_variable", "service"]
