"""SOS programs: polynomial unknowns, SOS and matrix-SOS constraints, exact certificates.

>>> import sosrelax as sr
>>> x, y = sr.variables("x y")
>>> gamma = sr.poly_variable("gamma")
>>> res = sr.solve(sr.SOSProgram(maximize=gamma, constraints=[sr.sos(x**2 - 2*x + 3 - gamma)]))
>>> res.proven, round(float(res.proven_objective), 6)
(True, 2.0)
"""

from sosrelax.program.build import CompiledProgram, SOSProgram, compile_program
from sosrelax.program.constraints import (
    CoefficientEquality,
    LinearInequality,
    SOSConstraint,
    sos,
    sos_matrix,
)
from sosrelax.program.expr import DecisionBlock, PolyExpr, PolyVariable, poly_variable
from sosrelax.program.solve import ProgramResult, solve_program

__all__ = [
    "CoefficientEquality",
    "CompiledProgram",
    "DecisionBlock",
    "LinearInequality",
    "PolyExpr",
    "PolyVariable",
    "ProgramResult",
    "SOSConstraint",
    "SOSProgram",
    "compile_program",
    "poly_variable",
    "solve_program",
    "sos",
    "sos_matrix",
]
