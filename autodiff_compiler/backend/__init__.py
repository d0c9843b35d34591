"""The back end: print the IR as a Python module, load it, JIT-compile it with Numba."""
