"""Placing and relocating a module: pure Python, no emulator."""

from .plan import LinkPlan, link_module

__all__ = ["LinkPlan", "link_module"]
