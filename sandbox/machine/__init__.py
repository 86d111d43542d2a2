"""The emulated machine: address map, memory, CPU, calls into guest code."""
