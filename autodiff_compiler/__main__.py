"""`python -m autodiff_compiler ...` is the `autodiff-compiler` command."""
import sys

from .cli import main

sys.exit(main())
