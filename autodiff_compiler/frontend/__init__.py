"""The front end: parse and fence the source, lower the Python AST to the IR."""
