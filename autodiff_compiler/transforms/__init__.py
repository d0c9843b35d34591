"""Transforms of the IR: reverse mode (the adjoint program), reading the one rule table."""
