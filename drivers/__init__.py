"""Sample driver modules and their build (see build.py)."""
