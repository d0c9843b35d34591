"""Optimisations, each a named pass of `pipeline.PASSES`, each stating its legality condition."""
