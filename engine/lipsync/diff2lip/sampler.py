"""Deterministic DDIM (eta = 0) over guided-diffusion's linear 1000-step schedule.

Diff2Lip samples with ``--timestep_respacing ddim25 --use_ddim True --rescale_timesteps
False --clip_denoised True``: guided-diffusion's ``space_timesteps`` keeps every 40th step
(0, 40, ..., 960); the respaced process's cumulative alphas are the original ones at the
kept steps (its betas are re-derived from them), the last step goes to alpha_bar_prev = 1,
and the network sees the ORIGINAL step numbers (``_WrappedModel`` maps the respaced index
through ``timestep_map``; no rescaling). The predicted x0 is clipped to [-1, 1] and eps
re-derived from it. A plain object, so another sampler can replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DDIMSampler", "space_timesteps", "MIN_STEPS", "MAX_STEPS"]

MIN_STEPS, MAX_STEPS = 1, 100


def space_timesteps(num_timesteps: int, count: int) -> list[int]:
    """Ascending kept steps: DDIM's integer stride ("ddimN") when one gives exactly
    ``count`` steps, else guided-diffusion's evenly spaced section rule ("N"), which is what
    upstream would need for counts with no such stride (37, 41, ... and 1)."""
    if not 1 <= count <= num_timesteps:
        raise ValueError(f"cannot take {count} of {num_timesteps} diffusion steps")
    for stride in range(1, num_timesteps):
        if len(range(0, num_timesteps, stride)) == count:
            return list(range(0, num_timesteps, stride))
    frac = 1.0 if count <= 1 else (num_timesteps - 1) / (count - 1)
    return sorted({round(i * frac) for i in range(count)})


@dataclass(frozen=True)
class DDIMSampler:
    """``steps`` DDIM steps of a ``train_steps`` linear-beta schedule."""

    steps: int = 25
    train_steps: int = 1000

    def __post_init__(self) -> None:
        if not MIN_STEPS <= self.steps <= MAX_STEPS:
            raise ValueError(f"diffusion steps must be {MIN_STEPS}-{MAX_STEPS}, not {self.steps}")

    def alphas_cumprod(self) -> np.ndarray:
        """Of the ORIGINAL process (float64, as guided-diffusion)."""
        scale = 1000.0 / self.train_steps
        betas = np.linspace(scale * 1e-4, scale * 0.02, self.train_steps, dtype=np.float64)
        return np.cumprod(1.0 - betas)

    def timesteps(self) -> list[int]:
        """The original step numbers visited, descending (what the network receives)."""
        return space_timesteps(self.train_steps, self.steps)[::-1]

    def sample(
        self,
        eps_fn: Callable[[Any, Any], Any],
        noise: Any,
        on_step: Callable[[int], None] | None = None,
    ) -> Any:
        """Run DDIM from ``noise`` (a torch tensor); ``eps_fn(x, t)`` predicts the noise."""
        import torch

        ac = self.alphas_cumprod()
        ts = self.timesteps()
        x = noise.float()
        for i, t in enumerate(ts):
            a_t = float(ac[t])
            a_prev = float(ac[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            eps = eps_fn(x, tt).float()
            x0 = ((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5).clamp(-1, 1)
            eps = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
            x = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps
            if on_step:
                on_step(i)
        return x
