"""autodiff_compiler: differentiation of numerical Python, by source transformation.

    from autodiff_compiler import grad, value_and_grad, stop_gradient, AutodiffError
    from autodiff_compiler import jvp, vjp, jacobian, hessian, hvp

The function's source is parsed, lowered to an IR, reversed into adjoint code,
simplified, printed as a Python module, loaded and JIT-compiled with Numba, and
(on request) proved equal to SymPy's derivative.
"""
from .errors import (AutodiffError, ArgumentError, InternalError, NonFiniteInputError, NoDerivativeRuleError,
                     RecursionNotSupportedError, SourceNotFoundError, UnsupportedSyntaxError,
                     VerificationError, AssertionFailedError, UnboundNameError)
from .api import custom_derivative, grad, no_grad, stop_gradient, value_and_grad
from .derivatives import hessian, hvp, jacobian, jvp, vjp

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian", "hvp", "stop_gradient", "no_grad", "custom_derivative", "AutodiffError", "ArgumentError",
           "InternalError",
           "NonFiniteInputError", "NoDerivativeRuleError", "RecursionNotSupportedError",
           "SourceNotFoundError", "UnsupportedSyntaxError", "VerificationError", "AssertionFailedError",
           "UnboundNameError", "__version__"]
