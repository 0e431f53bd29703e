"""Per-structure optimisers over generalised coordinates: ASE's FIRE and BFGS, and FIRE then
BFGS. Each keeps its own state, so structures of one batch converge independently."""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("fire", "bfgs", "fire+bfgs")
SWITCH_FMAX = 0.3  # eV/A where fire+bfgs hands over (chosen on val rows, docs/oracles.md)


class Fire:
    """ASE's FIRE (same defaults), one state per structure."""

    def __init__(self, x: np.ndarray, dt: float = 0.1, maxstep: float = 0.2, dtmax: float = 1.0,
                 nmin: int = 5, finc: float = 1.1, fdec: float = 0.5, astart: float = 0.1,
                 fa: float = 0.99) -> None:
        self.v: np.ndarray | None = None
        self.dt, self.maxstep, self.dtmax, self.nmin = dt, maxstep, dtmax, nmin
        self.finc, self.fdec, self.astart, self.fa = finc, fdec, astart, fa
        self.a, self.nsteps = astart, 0

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        if self.v is None:
            self.v = np.zeros_like(x)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                fnorm = np.sqrt(np.vdot(f, f))
                self.v = (1.0 - self.a) * self.v + self.a * f / fnorm * np.sqrt(
                    np.vdot(self.v, self.v))
                if self.nsteps > self.nmin:
                    self.dt = min(self.dt * self.finc, self.dtmax)
                    self.a *= self.fa
                self.nsteps += 1
            else:
                self.v[:] = 0.0
                self.a = self.astart
                self.dt *= self.fdec
                self.nsteps = 0
        self.v += self.dt * f
        dr = self.dt * self.v
        norm = np.sqrt(np.vdot(dr, dr))
        if norm > self.maxstep:
            dr = self.maxstep * dr / norm
        return x + dr


class Bfgs:
    """ASE's BFGS (quasi-Newton, Hessian guess alpha*I), one state per structure."""

    def __init__(self, x: np.ndarray, maxstep: float = 0.2, alpha: float = 70.0) -> None:
        self.h = np.eye(x.size) * alpha
        self.maxstep = maxstep
        self.x0: np.ndarray | None = None
        self.f0: np.ndarray | None = None

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        r, g = x.ravel(), f.ravel()
        if self.x0 is not None:
            dr = r - self.x0
            if np.abs(dr).max() > 1e-7:
                df = g - self.f0
                a = float(dr @ df)
                dg = self.h @ dr
                b = float(dr @ dg)
                if abs(a) > 1e-12 and abs(b) > 1e-12:
                    self.h -= np.outer(df, df) / a + np.outer(dg, dg) / b
        omega, vecs = np.linalg.eigh(self.h)
        dr = (vecs @ ((g @ vecs) / np.abs(omega))).reshape(-1, 3)
        longest = np.sqrt((dr**2).sum(axis=1)).max()
        if longest > self.maxstep:
            dr *= self.maxstep / longest
        self.x0, self.f0 = r.copy(), g.copy()
        return x + dr


class FireThenBfgs:
    """FIRE while the largest generalised force is above `switch` (eV/A), then BFGS from a
    fresh Hessian guess, which converges in fewer steps than FIRE's slow tail. Most
    structures end where FIRE would; some run on to a lower stationary point
    (docs/oracles.md)."""

    def __init__(self, x: np.ndarray, switch: float = SWITCH_FMAX) -> None:
        self.switch = switch
        self.active: Fire | Bfgs = Fire(x)

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        if isinstance(self.active, Fire) and np.sqrt((f**2).sum(axis=1)).max() < self.switch:
            self.active = Bfgs(x)
        return self.active.step(x, f)


def make_optimizer(name: str, x: np.ndarray,
                   switch_fmax: float = SWITCH_FMAX) -> Fire | Bfgs | FireThenBfgs:
    """A fresh optimiser state for one structure's coordinates `x`."""
    if name == "fire":
        return Fire(x)
    if name == "bfgs":
        return Bfgs(x)
    return FireThenBfgs(x, switch_fmax)
