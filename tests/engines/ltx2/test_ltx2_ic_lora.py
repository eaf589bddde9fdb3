"""The optional IC-LoRA: applied to r2v jobs only (the transformer is shared with t2v and i2v)."""

from __future__ import annotations

import numpy as np
import pytest

from happyhorse.engines import GenerationSpec, NullContext, load_engine

from .conftest import TINY_OPTIONS, build_tiny_pipeline


@pytest.fixture(scope="module")
def ic_lora(tmp_path_factory):
    pytest.importorskip("peft", reason="IC-LoRA loading needs peft (in the diffusion extra)")
    from diffusers import LTX2Pipeline
    from peft import LoraConfig, get_peft_model_state_dict

    transformer = build_tiny_pipeline().transformer
    # Random (not zero) LoRA weights, so the adapter visibly changes the output.
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"],
                                       init_lora_weights=False))
    path = tmp_path_factory.mktemp("ic-lora")
    LTX2Pipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(transformer))
    return path / "pytorch_lora_weights.safetensors"


def frames(engine, mode: str, images: tuple = ()) -> np.ndarray:
    spec = GenerationSpec(mode=mode, prompt="character1 dances", width=64, height=64, num_frames=24, seed=3,
                          images=images)
    return np.stack(list(engine.generate(spec, NullContext()).frames))


def test_ic_lora_changes_r2v_and_leaves_t2v_alone(tiny_engine, tiny_weights, ic_lora):
    with_lora = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "ic_lora": ic_lora})
    reference = (np.random.default_rng(0).integers(0, 255, (320, 320, 3), dtype=np.uint8),)
    assert not np.array_equal(frames(with_lora, "r2v", reference), frames(tiny_engine, "r2v", reference))
    assert np.array_equal(frames(with_lora, "t2v"), frames(tiny_engine, "t2v"))
    # And r2v again after a t2v job: the adapter is switched back on.
    assert not np.array_equal(frames(with_lora, "r2v", reference), frames(tiny_engine, "r2v", reference))
