r"""Certificates about polynomial dynamical systems :math:`\dot x = f(x)` as SOS programs.

* :func:`lyapunov` — a polynomial :math:`V` with :math:`V(x) \ge \varepsilon\|x\|^2` and
  :math:`\nabla V \cdot f \le -\varepsilon\|x\|^2` for every :math:`x`: the origin is globally asymptotically
  stable.
* :func:`region_of_attraction` — for a given :math:`V`, the largest level :math:`\gamma` (by bisection)
  with :math:`-\nabla V \cdot f - \varepsilon\|x\|^2 = \sigma_0 + \sigma_1 (\gamma - V)` (the S-procedure),
  which gives :math:`\dot V < 0` on :math:`\{V \le \gamma\} \setminus \{0\}`; with :math:`V` positive
  definite and that sublevel set bounded, the set lies in the region of attraction of the origin.
* :func:`barrier` — a polynomial :math:`B` with :math:`B \le 0` on the initial set, :math:`B \ge \varepsilon`
  on the unsafe set and :math:`\nabla B \cdot f \le 0` on the domain (Prajna & Jadbabaie, HSCC 2004): no
  trajectory that stays in the domain goes from the initial set to the unsafe set.

Closed loops :math:`\dot x = f(x, u)`, :math:`u = \pi(x)` with a ReLU network :math:`\pi`
(``controller=net, control_inputs=[u, ...], domain=(lo, hi)``): the network becomes the polynomial
constraints of :func:`sosrelax.program.closedloop.encode_controller` over the state box, and the conditions
on :math:`\dot V` or :math:`\dot B` are asked on that set (Putinar multipliers), with :math:`f` written in
the states and the control inputs.  The certificate lists the encoding's constraints; the checker verifies
the identities given them, and that they describe the network is the encoding's exact construction.

Each returns a :class:`DynamicsResult` whose certificate, when present, the independent exact checker
verified; otherwise the status says why there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.format import float_toward
from sosrelax.certificate.program_check import ProgramCheckReport
from sosrelax.certificate.program_format import ProgramCertificate
from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network
from sosrelax.poly import Constraint, Polynomial
from sosrelax.program import PolyExpr, SOSProgram, poly_variable, solve_program, sos
from sosrelax.program.closedloop import ClosedLoop, encode_controller
from sosrelax.program.solve import ProgramResult

__all__ = ["DynamicsResult", "barrier", "lie_derivative", "lyapunov", "region_of_attraction"]


@dataclass(frozen=True)
class DynamicsResult:
    """A Lyapunov function, a region-of-attraction level or a barrier certificate, and its proof.

    Attributes
    ----------
    kind : {"lyapunov", "region_of_attraction", "barrier"}
    status : {"proven", "not_proven", "infeasible", "failed"}
        ``"proven"`` only when the exact checker verified the certificate; ``"infeasible"``: the SOS
        program has no solution at this degree; ``"not_proven"``: solved, but no exact certificate could be
        rounded; ``"failed"``: the solver stopped without an answer.
    function : Polynomial or None
        :math:`V` or :math:`B` (with the certificate's exact coefficients when proven).
    level : float or None
        The proven level :math:`\\gamma` (region of attraction only).
    certificate, check
        The exact certificate and the checker's report.
    message : str
    result : ProgramResult or None
        The last SOS program's result.
    """

    kind: str
    status: str
    function: Polynomial | None
    level: float | None
    certificate: ProgramCertificate | None
    check: ProgramCheckReport | None
    message: str
    result: ProgramResult | None = None

    @property
    def proven(self) -> bool:
        """Whether the exact checker verified the certificate."""
        return self.status == "proven" and self.check is not None and self.check.valid

    def __repr__(self) -> str:
        lvl = "" if self.level is None else f", level={self.level:.8g}"
        return f"DynamicsResult({self.kind}, status={self.status}{lvl}, message={self.message!r})"


def _box(domain: Any, n: int) -> tuple[list[Fraction], list[Fraction]]:
    """A state box ``(lo, hi)`` as exact rationals (floats read exactly)."""
    try:
        lo, hi = ([Fraction(v) for v in side] for side in domain)
    except (TypeError, ValueError) as e:
        raise InvalidValueError("with a controller, domain must be a state box (lo, hi) of two sequences of "
                                f"numbers, got {domain!r}") from e
    if len(lo) != n or len(hi) != n or any(a >= b for a, b in zip(lo, hi, strict=True)):
        raise InvalidValueError(f"the state box must give {n} bounds lo < hi on each side, got {domain!r}")
    return lo, hi


def _closed_loop(controller: Any, xs: list[Polynomial], control_inputs: Sequence[Any], domain: Any,
                 products: bool) -> ClosedLoop:
    if not isinstance(controller, Network):
        raise InvalidValueError(f"controller must be a sosrelax.nn.Network, got {type(controller).__name__}")
    if domain is None:
        raise InvalidValueError("a controller needs domain=(lo, hi): the state box its network is encoded on")
    lo, hi = _box(domain, len(xs))
    return encode_controller(controller, xs, _vars(control_inputs), lo, hi, products=products)


def _vars(variables: Sequence[Any]) -> list[Polynomial]:
    out = []
    for v in variables:
        if not isinstance(v, Polynomial) or v.nterms != 1 or v.degree != 1:
            raise InvalidValueError(f"variables must be sr.variables(...) polynomials, got {v!r}")
        out.append(v)
    if not out:
        raise InvalidValueError("give at least one state variable")
    return out


def _field(f: Sequence[Any], xs: list[Polynomial]) -> list[Polynomial]:
    fs = [p if isinstance(p, Polynomial) else Polynomial.constant(float(p)) for p in f]
    if len(fs) != len(xs):
        raise InvalidValueError(f"the vector field has {len(fs)} components but there are {len(xs)} variables")
    return fs


def _invariant_monomials(fs: list[Polynomial], xs: list[Polynomial], degree: int) -> list[Polynomial] | None:
    """The monomials of degree 2..``degree`` invariant under the sign symmetries of the field ``fs`` (the
    ``s`` with ``s·α ≡ s_i (mod 2)`` for every monomial ``α`` of every ``f_i``), or ``None`` (all monomials)
    when the field has none or mentions other variables."""
    import numpy as np

    from sosrelax.poly.monomials import monomial_basis
    from sosrelax.program.symmetry import sign_symmetries

    names = [x.variables[0] for x in xs]
    rows = []
    for i, p in enumerate(fs):
        for mono, _ in p.terms():
            if any(v not in names for v in mono):
                return None
            a = [mono.get(v, 0) for v in names]
            a[i] += 1  # s·α ≡ s_i  <=>  s·(α + e_i) ≡ 0 (mod 2)
            rows.append(a)
    n = len(names)
    sym = sign_symmetries([np.array(rows, dtype=np.int64).reshape(-1, n)], n)
    if sym.shape[0] == 0:
        return None
    basis = monomial_basis(n, degree, min_degree=2)
    out = []
    for e in basis[~((basis @ sym.T) % 2).any(axis=1)].tolist():
        m = Polynomial.constant(1.0)
        for x, k in zip(xs, e, strict=True):
            if k:
                m = m * x**k
        out.append(m)
    return out


def lie_derivative(V: Any, f: Sequence[Any], variables: Sequence[Any]) -> Any:
    """:math:`\\nabla V \\cdot f = \\sum_i \\partial V/\\partial x_i \\, f_i` (a polynomial or an expression)."""
    xs = _vars(variables)
    fs = _field(f, xs)
    total: Any = 0.0
    for x, fi in zip(xs, fs, strict=True):
        total = total + V.diff(x) * fi
    return total


def _norm2(xs: list[Polynomial]) -> Polynomial:
    return sum((x * x for x in xs), Polynomial.constant(0.0))


def _status(res: ProgramResult) -> str:
    if res.proven:
        return "proven"
    if res.status.value == "infeasible":
        return "infeasible"
    return "not_proven" if res.objective is not None else "failed"


def lyapunov(f: Sequence[Any], variables: Sequence[Any], degree: int = 2, *, eps: float = 1e-3,
             cone: str = "psd", solver: str = "clarabel", controller: Network | None = None,
             control_inputs: Sequence[Any] = (), domain: Any = None, multiplier_degree: int | None = None,
             products: bool = True, symmetry: bool = True) -> DynamicsResult:
    r"""Search a polynomial Lyapunov function of :math:`\dot x = f(x)`, or of a closed loop with a ReLU
    network controller on a state box.

    Parameters
    ----------
    f : sequence of Polynomial
        The vector field, one component per variable; :math:`f(0) = 0`.  With a controller, polynomials in
        the states and the control inputs.
    variables : sequence of Polynomial
    degree : int
        Degree of :math:`V` (monomials of degree 2 to ``degree``).
    eps : float
        :math:`V \ge \varepsilon \|x\|^2` and :math:`\dot V \le -\varepsilon \|x\|^2` are asked
        (without a controller).
    cone : {"psd", "dsos", "sdsos"}
    solver : str
    controller : Network, optional
        A ReLU network :math:`u = \pi(x)` (``sosrelax.nn.from_weights``, ONNX...).
    control_inputs : sequence of Polynomial
        The variables :math:`u` of ``f`` that the network's outputs feed, in output order.
    domain : (lo, hi)
        With a controller: the state box, which must contain the origin in its interior.
    multiplier_degree : int, optional
        Degree of the Putinar certificate on the closed-loop set (default: the smallest even degree).
    products : bool
        Add pairwise products of the encoding's linear constraints (see
        :func:`~sosrelax.program.closedloop.encode_controller`).
    symmetry : bool
        Without a controller: search :math:`V` among the monomials invariant under the sign symmetries of
        the field (:math:`s` with :math:`f(D_s x) = D_s f(x)`, :math:`D_s = \mathrm{diag}((-1)^{s})`; an odd
        field has :math:`s = (1, \dots, 1)`, so :math:`V` is even).  Nothing is lost: if :math:`V` works so
        does :math:`V \circ D_s`, and so does their average, which is invariant; the program is smaller.

    Returns
    -------
    DynamicsResult
        ``function`` is :math:`V`.  Without a controller, proven means both SOS constraints hold exactly, so
        the origin is globally asymptotically stable.  With a controller, a first program maximises the
        margin :math:`t` in :math:`V - t\|x\|^2` SOS, :math:`-\dot V - t\|x\|^2 \ge 0` on the closed-loop
        set, with the squares' coefficients of :math:`V` summing to 1; when :math:`t^* \le 0` the status is
        ``"infeasible"``.  Otherwise the certificate is for :math:`\varepsilon = t^*/2`: :math:`\dot V < 0`
        on the box minus the origin along the closed loop and :math:`V \ge \varepsilon\|x\|^2` everywhere,
        so :math:`\{V \le c\}` with ``level`` :math:`c = \varepsilon r^2` (:math:`r` the distance from the
        origin to the box's boundary) lies in the box, is invariant and lies in the region of attraction.
    """
    xs = _vars(variables)
    if controller is not None:
        loop = _closed_loop(controller, xs, control_inputs, domain, products)
        return _lyapunov_closed_loop(f, xs, loop, degree, cone, solver, multiplier_degree)
    V = poly_variable("V", xs, degree, min_degree=2, monomials=_invariant_monomials(_field(f, xs), xs, degree)
                      if symmetry else None)
    n2 = _norm2(xs)
    res = solve_program(SOSProgram(constraints=[
        sos(V - eps * n2, cone=cone, name="V - eps|x|^2"),
        sos(-lie_derivative(V, f, xs) - eps * n2, cone=cone, name="-dV/dt - eps|x|^2")]), solver=solver)
    status = _status(res)
    fn = res.value(V, exact=True) if res.proven else (res.value(V) if res.values else None)
    msg = {"proven": "Lyapunov function found and verified exactly: the origin is globally asymptotically stable",
           "infeasible": f"no Lyapunov function of degree {degree} (the SOS program is infeasible)"}.get(
        status, f"no proof: {res.message}")
    return DynamicsResult("lyapunov", status, fn, None, res.certificate, res.check, msg, res)


def _lyapunov_closed_loop(f: Sequence[Any], xs: list[Polynomial], loop: ClosedLoop, degree: int, cone: str,
                          solver: str, multiplier_degree: int | None) -> DynamicsResult:
    """Two programs: the largest margin ``t``, then a certificate at ``t / 2`` (see :func:`lyapunov`)."""
    if not all(a < 0 < b for a, b in zip(loop.lo, loop.hi, strict=True)):
        raise InvalidValueError("the state box must contain the origin in its interior")
    n2 = _norm2(xs)
    on = loop.on()

    def program(t: Any) -> tuple[SOSProgram, PolyExpr]:
        V = poly_variable("V", xs, degree, min_degree=2)
        scale = sum((V.coefficient({x: 2}) for x in xs), PolyExpr.constant(0.0))
        return SOSProgram(maximize=t if isinstance(t, PolyExpr) else None, constraints=[
            sos(V - t * n2, cone=cone, name="V - eps|x|^2"),
            sos(-lie_derivative(V, f, xs) - t * n2, on=on, degree=multiplier_degree, cone=cone,
                name="-dV/dt - eps|x|^2 on the closed loop"),
            scale == 1.0]), V

    t = poly_variable("t")
    first, _ = program(t)
    best = solve_program(first, solver=solver, certificate=False)
    if best.objective is None or best.objective <= 1e-7:
        why = ("the SOS program is infeasible" if best.objective is None and best.status.value == "infeasible"
               else f"the largest margin is {best.objective:.3g} <= 0" if best.objective is not None
               else f"the solver stopped without an answer ({best.message})")
        status = "failed" if best.objective is None and best.status.value != "infeasible" else "infeasible"
        return DynamicsResult("lyapunov", status, None, None, None, None,
                              f"no Lyapunov function of degree {degree} for the closed loop on the box: {why}", best)
    eps = float(np.float32(best.objective / 2))  # a short binary fraction: the certificate states it exactly
    second, V = program(eps)
    res = solve_program(second, solver=solver)
    status = _status(res)
    if status != "proven":
        return DynamicsResult("lyapunov", status, res.value(V) if res.values else None, None, None, res.check,
                              f"margin {best.objective:.3g} found, but no proof at {eps:.3g}: {res.message}", res)
    r = min(min(-a, b) for a, b in zip(loop.lo, loop.hi, strict=True))
    level = float_toward(Fraction(eps) * r * r, down=True)
    return DynamicsResult("lyapunov", "proven", res.value(V, exact=True), level, res.certificate, res.check,
                          f"Lyapunov function of the closed loop verified exactly on the box: dV/dt <= -{eps:.3g}|x|^2 "
                          f"there, and {{V <= {level:.6g}}} (inside the box) lies in the region of attraction", res)


def _roa_program(Vdot: Polynomial, V: Polynomial, xs: list[Polynomial], gamma: float, eps: float,
                 degree: int | None, cone: str) -> SOSProgram:
    n2 = _norm2(xs)
    return SOSProgram(constraints=[
        sos(V - eps * n2, cone=cone, name="V - eps|x|^2"),
        sos(-Vdot - eps * n2, on=[gamma - V >= 0], degree=degree, cone=cone,
            name=f"-dV/dt - eps|x|^2 on V <= {gamma!r}")])


def region_of_attraction(f: Sequence[Any], V: Polynomial, variables: Sequence[Any], *, degree: int | None = None,
                         eps: float = 1e-6, upper: float | None = None, rtol: float = 1e-5,
                         cone: str = "psd", solver: str = "clarabel") -> DynamicsResult:
    """The largest proven level :math:`\\gamma` with :math:`\\{V \\le \\gamma\\}` in the region of attraction.

    Bisection on :math:`\\gamma` of the SOS program
    :math:`-\\dot V - \\varepsilon\\|x\\|^2 = \\sigma_0 + \\sigma_1(\\gamma - V)`,
    :math:`V - \\varepsilon\\|x\\|^2` SOS (``sos(-Vdot - eps*|x|^2, on=[gamma - V >= 0])``), then an exact
    certificate at the largest feasible level found (backed off by a relative ``1e-4`` steps until rounding
    succeeds).

    Parameters
    ----------
    f : sequence of Polynomial
    V : Polynomial
        A fixed candidate, positive definite with bounded sublevel sets (e.g. from the linearisation).
    variables : sequence of Polynomial
    degree : int, optional
        Degree of the S-procedure certificate (default: the smallest even degree holding :math:`\\dot V`).
    eps : float
    upper : float, optional
        A level known to be too large (default: found by doubling from 1).
    rtol : float
        Relative width at which the bisection stops.
    cone, solver
        As for :func:`lyapunov`.

    Returns
    -------
    DynamicsResult
        ``level`` is the proven :math:`\\gamma` (``None`` when none was proven).
    """
    xs = _vars(variables)
    if not isinstance(V, Polynomial):
        raise InvalidValueError("region_of_attraction needs a fixed polynomial V (search V with lyapunov())")
    Vdot = lie_derivative(V, f, xs)

    def feasible(g: float) -> bool:
        r = solve_program(_roa_program(Vdot, V, xs, g, eps, degree, cone), solver=solver, certificate=False)
        return r.status.value == "optimal"

    lo, hi = 0.0, upper
    if hi is None:
        hi = 1.0
        while feasible(hi) and hi < 2.0**40:
            lo, hi = hi, 2.0 * hi
    while hi - lo > rtol * max(hi, 1e-12):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if feasible(mid) else (lo, mid)
    res = None
    for k in range(8):
        g = lo * (1.0 - 1e-4 * (2**k - 1))
        if g <= 0:
            break
        res = solve_program(_roa_program(Vdot, V, xs, g, eps, degree, cone), solver=solver)
        if res.proven:
            return DynamicsResult("region_of_attraction", "proven", V, g, res.certificate, res.check,
                                  f"{{V <= {g:.8g}}} lies in the region of attraction; certificate verified exactly",
                                  res)
    why = "no feasible level" if lo <= 0 else f"largest feasible level {lo:.8g} could not be certified exactly"
    return DynamicsResult("region_of_attraction", "not_proven" if lo > 0 else "infeasible", V, None,
                          None, None if res is None else res.check, why, res)


def barrier(f: Sequence[Any], variables: Sequence[Any], initial: Sequence[Constraint],
            unsafe: Sequence[Constraint], domain: Any = None, degree: int = 4, *,
            rate: float = 0.0, eps: float = 1e-2, multiplier_degree: int | None = None, cone: str = "psd",
            solver: str = "clarabel", controller: Network | None = None, control_inputs: Sequence[Any] = (),
            products: bool = True) -> DynamicsResult:
    """Search a barrier certificate separating the initial set from the unsafe set.

    Constraints (Prajna & Jadbabaie, HSCC 2004, with SOS multipliers):
    ``sos(-B, on=initial)``, ``sos(B - eps, on=unsafe)`` and ``sos(rate*B - dB/dt, on=domain)``.
    ``rate = 0`` is their condition :math:`\\dot B \\le 0`; any other real ``rate`` :math:`\\lambda` gives the
    (equally sound) exponential condition :math:`\\dot B \\le \\lambda B` (Kong et al., CAV 2013): along a
    trajectory :math:`\\tfrac{d}{dt}(e^{-\\lambda t} B) \\le 0`, so :math:`B \\le 0` persists.  Every equilibrium
    :math:`x^*` makes :math:`\\dot B(x^*) = 0`; with ``rate = 0`` the Gram matrix of the last constraint is then
    singular at :math:`b(x^*)`, which exact rounding cannot reproduce when :math:`x^*` is irrational, while a
    negative rate with :math:`B(x^*) < 0` keeps it definite.

    Parameters
    ----------
    f : sequence of Polynomial
    variables : sequence of Polynomial
    initial, unsafe : list of Constraint
        The sets :math:`X_0` and :math:`X_u` as ``[g >= 0, ...]``.
    domain : list of Constraint, or (lo, hi), optional
        The state space :math:`X` (default: everywhere); with a controller, the state box ``(lo, hi)`` the
        network is encoded on.
    degree : int
        Degree of :math:`B`.
    rate : float
        :math:`\\lambda` of the condition :math:`\\dot B \\le \\lambda B` (0: Prajna and Jadbabaie's).
    eps : float
        :math:`B \\ge \\varepsilon` on the unsafe set.
    multiplier_degree : int, optional
        Degree of every Putinar certificate (default: the smallest even degree holding each constraint).
    cone, solver, controller, control_inputs, products
        As for :func:`lyapunov`: with a ReLU network ``controller``, ``f`` is written in the states and the
        ``control_inputs`` and the condition on :math:`\\dot B` is asked on the closed-loop set over the box.

    Returns
    -------
    DynamicsResult
        ``function`` is :math:`B`.  Proven: no trajectory that stays in the domain reaches the unsafe set
        from the initial set.
    """
    xs = _vars(variables)
    B = poly_variable("B", xs, degree)
    Bdot: PolyExpr = lie_derivative(B, f, xs)
    where = list(domain or []) if controller is None else _closed_loop(controller, xs, control_inputs, domain,
                                                                       products).on()
    res = solve_program(SOSProgram(constraints=[
        sos(-B, on=list(initial), degree=multiplier_degree, cone=cone, name="-B on initial set"),
        sos(B - eps, on=list(unsafe), degree=multiplier_degree, cone=cone, name="B - eps on unsafe set"),
        sos(rate * B - Bdot, on=where, degree=multiplier_degree, cone=cone,
            name="rate*B - dB/dt on domain" if controller is None else "rate*B - dB/dt on the closed loop")]),
        solver=solver)
    status = _status(res)
    fn = res.value(B, exact=True) if res.proven else (res.value(B) if res.values else None)
    reach = ("" if controller is None and not domain else
             " by closed-loop trajectories that stay in the box" if controller is not None else
             " by trajectories that stay in the domain")
    msg = {"proven": f"barrier certificate found and verified exactly: the unsafe set is unreachable{reach}",
           "infeasible": f"no barrier certificate of degree {degree} (the SOS program is infeasible)"}.get(
        status, f"no proof: {res.message}")
    return DynamicsResult("barrier", status, fn, None, res.certificate, res.check, msg, res)
