"""The Linux 6.1 (i386, 686 flavour) kernel as modules see it, by subsystem.

Each file exports the real kernel's symbol names with their real prototypes;
the ``linux`` profile (``kernel_stubs/profiles.py``) calls them with
regparm(3), as Linux i386 is built.
"""
