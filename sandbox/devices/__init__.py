"""Device-side mechanisms: character device nodes that Python can open."""
