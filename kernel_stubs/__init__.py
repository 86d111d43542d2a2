"""Kernel services written in Python: printk, strings, memory, IRQs, locks."""
