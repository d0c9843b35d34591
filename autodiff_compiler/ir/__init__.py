"""The IR and the analyses every pass asks: nodes, names, types, activity, dataflow.

`ir.Assign`, `ir.walk`, ... are the node definitions of `ir.nodes`, re-exported
here so that passes write `from .. import ir` and `ir.For`.
"""
from .nodes import *  # noqa: F401,F403
from .nodes import __all__ as _nodes_all
from .names import Names, is_temporary

__all__ = list(_nodes_all) + ["Names", "is_temporary"]
