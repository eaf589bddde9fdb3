"""Update rules of the daVinci-MagiHuman sampler: UniPC (base and SR), DDIM-style (distilled), SDE.

Public API::

    solver = UniPCSolver(schedule.sigmas)      # or DDIMSolver / SDESolver
    for i in range(schedule.num_steps):
        x = solver.step(i, x, v, noise)          # v: the (guided) velocity at x

Each solver holds one modality's state (UniPC keeps its last outputs), so a
joint run has one per modality. ``noise`` is a ``NoiseFn``: given a tensor it
returns standard Gaussian noise of that shape, dtype and device; only the
stochastic rules call it, once per step. Scalar coefficients are computed as
float32 tensors, the dtype the reference computes them in, so trajectories
agree to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

__all__ = ["DDIMSolver", "NoiseFn", "SDESolver", "Solver", "UniPCSolver"]

NoiseFn = Callable[["torch.Tensor"], "torch.Tensor"]


class Solver(Protocol):
    """One modality's update rule over a fixed sigma schedule."""

    def step(self, index: int, sample: torch.Tensor, velocity: torch.Tensor, noise: NoiseFn) -> torch.Tensor:
        """``x_{index+1}`` from ``x_index`` and the velocity predicted there."""
        ...


class DDIMSolver:
    """The distilled model's rule: denoise fully, then re-noise at the next sigma with fresh noise.

    ``x_{i+1} = s_{i+1} eps_i + (1 - s_{i+1}) (x_i - s_i v_i)``.
    """

    def __init__(self, sigmas: torch.Tensor) -> None:
        self.sigmas = sigmas

    def step(self, index: int, sample: torch.Tensor, velocity: torch.Tensor, noise: NoiseFn) -> torch.Tensor:
        sigma, sigma_next = self.sigmas[index], self.sigmas[index + 1]
        eps = noise(sample)
        clean = sample - sigma * velocity
        return sigma_next * eps + (1 - sigma_next) * clean


class SDESolver:
    """The (off by default) SDE rule: a flow step whose noise share is set by ``theta``.

    With ``c = cos(theta pi/2)``, ``s = sin(theta pi/2)``: mean
    ``(1 - s' + s' c)(x - s v) + s' c v`` and standard deviation ``s' s``,
    where ``s`` / ``s'`` are this and the next sigma. ``theta = 0`` is the
    deterministic Euler flow step, ``theta = 1`` the DDIM rule.
    ``theta_at(index)`` gives ``theta`` per step (``schedules.sde_noise_theta``).
    Noise is drawn at every step, as the reference does, so the random stream
    stays aligned whatever ``theta`` is.
    """

    def __init__(self, sigmas: torch.Tensor, theta_at: Callable[[int], float]) -> None:
        self.sigmas = sigmas
        self.theta_at = theta_at

    def step(self, index: int, sample: torch.Tensor, velocity: torch.Tensor, noise: NoiseFn) -> torch.Tensor:
        import torch

        sigma, sigma_next = self.sigmas[index], self.sigmas[index + 1]
        angle = torch.tensor(float(self.theta_at(index))) * torch.pi / 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        mean = (1 - sigma_next + sigma_next * cos) * (sample - sigma * velocity) + sigma_next * cos * velocity
        return mean + sigma_next * sin * noise(sample)


class UniPCSolver:
    """Multistep UniPC for flow matching: order 2, B(h)=e^h-1 ("bh2"), on x0 predictions, with the UniC corrector.

    The data prediction at step i is ``m_i = x_i - s_i v_i``; log-SNR is
    ``lambda = log(1 - s) - log(s)``. Each step first corrects ``x_i`` with
    UniC (except at step 0), using the previous sample and ``m_i``, then
    predicts ``x_{i+1}`` with UniP. The order warms up from 1 and drops to 1
    at the last step ("lower order final"), which then returns ``m_{N-1}``
    exactly (the final sigma is 0).
    """

    ORDER = 2

    def __init__(self, sigmas: torch.Tensor) -> None:
        self.sigmas = sigmas
        self._outputs: list[torch.Tensor] = []  # m_{i-1}, m_i: the most recent last
        self._last_sample: torch.Tensor | None = None
        self._last_order = 0
        self._next_index = 0

    def _lambda(self, index: int) -> torch.Tensor:
        import torch

        sigma = self.sigmas[index]
        return torch.log(1 - sigma) - torch.log(sigma)

    def step(self, index: int, sample: torch.Tensor, velocity: torch.Tensor, noise: NoiseFn) -> torch.Tensor:
        if index != self._next_index:
            raise ValueError(f"UniPCSolver expected step {self._next_index}, got {index}")
        self._next_index += 1
        data = sample - self.sigmas[index] * velocity
        if index > 0 and self._last_sample is not None:
            sample = self._correct(index, data)
        self._outputs = [*self._outputs, data][-self.ORDER :]
        num_steps = self.sigmas.shape[0] - 1
        order = min(self.ORDER, num_steps - index, len(self._outputs))
        self._last_sample, self._last_order = sample, order
        return self._predict(index, sample, order)

    def _predict(self, index: int, sample: torch.Tensor, order: int) -> torch.Tensor:
        """UniP: ``x_{index+1}`` from ``x_index`` and the last ``order`` data predictions."""
        alpha_t, sigma_t, sigma_s, h_phi_1, b_h, _ = self._coefficients(index, index + 1)
        m0 = self._outputs[-1]
        x = sigma_t / sigma_s * sample - alpha_t * h_phi_1 * m0
        if order == 2:
            # The reference fixes rho_p = 1/2 at order 2 rather than solving for it.
            d1 = self._difference(index - 1, index, index + 1, self._outputs[-2], m0)
            x = x - alpha_t * b_h * (0.5 * d1)
        return x

    def _correct(self, index: int, data: torch.Tensor) -> torch.Tensor:
        """UniC: a better ``x_index`` from ``x_{index-1}``, the earlier predictions and ``m_index``."""
        import torch

        assert self._last_sample is not None
        order = self._last_order
        alpha_t, sigma_t, sigma_s, h_phi_1, b_h, hh = self._coefficients(index - 1, index)
        m0 = self._outputs[-1]
        x = sigma_t / sigma_s * self._last_sample - alpha_t * h_phi_1 * m0
        d1_t = data - m0
        if order == 1:
            return x - alpha_t * b_h * (0.5 * d1_t)
        rk = (self._lambda(index - 2) - self._lambda(index - 1)) / (self._lambda(index) - self._lambda(index - 1))
        d1 = (self._outputs[-2] - m0) / rk
        # Solve [[1, 1], [rk, 1]] rho = b for the two corrector weights.
        phi_2 = h_phi_1 / hh - 1
        phi_3 = phi_2 / hh - 0.5
        rhs = torch.stack([phi_2 / b_h, phi_3 * 2 / b_h])
        ones = torch.ones((), dtype=rk.dtype)
        lhs = torch.stack([torch.stack([ones, ones]), torch.stack([rk, ones])])
        rho = torch.linalg.solve(lhs, rhs).to(data.dtype)
        return x - alpha_t * b_h * (rho[0] * d1 + rho[1] * d1_t)

    def _difference(self, k: int, s: int, t: int, m_k: torch.Tensor, m_s: torch.Tensor) -> torch.Tensor:
        """``(m_k - m_s) / r_k`` with ``r_k = (lambda_k - lambda_s) / (lambda_t - lambda_s)``."""
        rk = (self._lambda(k) - self._lambda(s)) / (self._lambda(t) - self._lambda(s))
        return (m_k - m_s) / rk

    def _coefficients(self, s: int, t: int) -> tuple[torch.Tensor, ...]:
        """For a step from sigma index ``s`` to ``t``: alpha_t, sigma_t, sigma_s, h*phi_1, B(h), -h."""
        import torch

        sigma_t, sigma_s = self.sigmas[t], self.sigmas[s]
        hh = -(self._lambda(t) - self._lambda(s))
        h_phi_1 = torch.expm1(hh)
        return 1 - sigma_t, sigma_t, sigma_s, h_phi_1, torch.expm1(hh), hh
