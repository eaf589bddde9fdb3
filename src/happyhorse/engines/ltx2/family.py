"""Which LTX-2 generation a set of weights is (LTX-2 or LTX-2.3), and what that changes in a call.

The same diffusers classes load both, so the weights' configs are what tell
them apart. LTX-2.3's transformer switches on the per-head gated attention
and the cross-attention modulation that diffusers 0.42.1 marks "used by
LTX-2.3" (``gated_attn``, ``cross_attn_mod`` and their audio twins; any one
of them on means LTX-2.3, none means LTX-2); its vocoder is
``LTX2VocoderWithBWE`` (48 kHz) where LTX-2's is ``LTX2Vocoder`` (24 kHz).
The transformer decides (it is what the call arguments must suit); the
vocoder is shown beside it. Later generations (LTX-2.5: no feed-forward bias,
a timestep-free prompt modulation, a Gemma 4 text encoder) are refused rather
than run with arguments nobody checked.

What differs per family in a pipeline call, from the ``__call__`` docstrings
of diffusers 0.42.1: ``use_cross_timestep`` (``True`` is "the LTX-2.3/2.5
behavior", ``False`` "the legacy LTX-2.0 behavior") and the transformer block
that spatio-temporal guidance perturbs (29 for LTX-2.0, 28 for LTX-2.3). The
guidance scales the same docstrings suggest for LTX-2.3 (video 3, audio 7,
STG 1, modality 3) are the pipelines' defaults, used for both.

No torch here: ``happyhorse weights check`` reads the configs as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_LTX2_3_SWITCHES = ("gated_attn", "cross_attn_mod", "audio_gated_attn", "audio_cross_attn_mod")
# Set to these values by later generations than LTX-2.3 (diffusers' own tests mark them "LTX-2.4").
_LATER_SWITCHES = {"ff_bias": False, "audio_ff_bias": False, "use_prompt_adaln_single": False}


@dataclass(frozen=True)
class Family:
    """One LTX-2 generation and the call arguments that must follow it."""

    name: str
    use_cross_timestep: bool
    stg_block: int
    """The transformer block spatio-temporal guidance perturbs."""

    def call_arguments(self) -> dict[str, Any]:
        return {"use_cross_timestep": self.use_cross_timestep, "spatio_temporal_guidance_blocks": [self.stg_block]}


LTX2 = Family("LTX-2", use_cross_timestep=False, stg_block=29)
LTX2_3 = Family("LTX-2.3", use_cross_timestep=True, stg_block=28)


def family_of(transformer_config: Mapping[str, Any]) -> Family:
    """The family of a ``LTX2VideoTransformer3DModel`` config; ``ValueError`` for one this engine does not know."""
    later = sorted(key for key, value in _LATER_SWITCHES.items() if transformer_config.get(key, not value) == value)
    if later:
        raise ValueError(f"the transformer config sets {', '.join(later)} to false, as generations after LTX-2.3 "
                         "do; the ltx2 engine runs LTX-2 and LTX-2.3 only")
    return LTX2_3 if any(transformer_config.get(key) for key in _LTX2_3_SWITCHES) else LTX2
