"""The published checkpoint layout: names, shapes and dtypes of the real DiT, single-file and sharded loading."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from .conftest import MAGI_DATA

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from happyhorse.engines.magihuman.checkpoint import (  # noqa: E402
    CheckpointMismatch,
    expected_tensors,
    load_dit,
)
from happyhorse.engines.magihuman.config import DiTConfig  # noqa: E402

TINY = MAGI_DATA / "dit_tiny" / "model.safetensors"


def test_real_model_has_every_published_tensor_name_shape_and_dtype(real_config) -> None:
    published = real_config["dit_state_dict"]["tensors"]
    ours = expected_tensors(DiTConfig.real())  # built on meta: no memory
    assert sorted(ours) == sorted(published)
    wrong = [
        name for name, (shape, dtype) in ours.items()
        if list(shape) != published[name]["shape"] or str(dtype).removeprefix("torch.") != published[name]["dtype"]
    ]
    assert wrong == []
    total = sum(math.prod(shape) for shape, _ in ours.values())
    assert total == real_config["dit_state_dict"]["num_parameters"] == 15_299_419_152


def test_real_config_reads_from_the_reference_fields(real_config) -> None:
    config = DiTConfig.from_dict(real_config["arch_config"])
    assert config == DiTConfig.real()
    derived = real_config["arch_config_derived"]
    assert (config.num_heads_q, config.num_heads_kv) == (derived["num_heads_q"], derived["num_heads_kv"])
    assert config.qkv_out == derived["linear_qkv_out_per_modality"]
    assert config.swiglu7_width == derived["swiglu7_intermediate_size"]
    assert config.gelu7_width == derived["gelu7_intermediate_size"]
    assert config.rope_bands == derived["rope_bands_per_axis"]
    assert config.rotary_dims == derived["rotary_dims_per_head"]
    assert [i for i in range(config.num_layers) if config.experts(i) == 1] == derived["shared_layers"]
    sr = DiTConfig.real(sr_1080p=True)
    assert list(sr.local_attn_layers) == real_config["sr_arch_config_1080p"]["local_attn_layers"]


def test_tiny_config_derived_sizes(tiny_configs) -> None:
    config = DiTConfig.from_dict(tiny_configs["arch_config"])
    derived = tiny_configs["arch_config_derived"]
    assert config.qkv_out == derived["linear_qkv_out_per_modality"]
    assert config.swiglu7_width == derived["swiglu7_intermediate_size"]
    assert config.rotary_dims == derived["rotary_dims_per_head"]
    shapes = expected_tensors(config)
    assert sum(math.prod(s) for s, _ in shapes.values()) == tiny_configs["num_parameters"]


def test_derived_head_counts_must_agree(tiny_configs) -> None:
    with pytest.raises(ValueError, match="num_heads_q"):
        DiTConfig.from_dict({**tiny_configs["arch_config"], "num_heads_q": 5})


def _file_tensors() -> dict[str, Any]:
    return safetensors_torch.load_file(TINY)


def _assert_holds_file(model, tensors: dict[str, Any]) -> None:
    state = model.state_dict()
    assert sorted(state) == sorted(tensors)
    for name, t in tensors.items():
        assert state[name].dtype == t.dtype, name
        assert torch.equal(state[name], t), name


def test_load_single_file_with_config_json(tmp_path: Path, tiny_configs) -> None:
    (tmp_path / "model.safetensors").write_bytes(TINY.read_bytes())
    (tmp_path / "config.json").write_text(json.dumps({"arch_config": tiny_configs["arch_config"]}))
    model = load_dit(tmp_path, compute_dtype=torch.float32)
    _assert_holds_file(model, _file_tensors())
    assert not any(p.requires_grad for p in model.parameters())


def test_load_sharded_index_layout(tmp_path: Path, tiny_configs) -> None:
    tensors = _file_tensors()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for shard, part in shards.items():
        safetensors_torch.save_file({n: tensors[n] for n in part}, tmp_path / shard)
        weight_map.update(dict.fromkeys(part, shard))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    model = load_dit(tmp_path, config=DiTConfig.from_dict(tiny_configs["arch_config"]))
    _assert_holds_file(model, tensors)

    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
        load_dit(tmp_path, config=DiTConfig.from_dict(tiny_configs["arch_config"]))


def test_mismatch_lists_missing_unexpected_and_wrong_shapes(tmp_path: Path, tiny_configs) -> None:
    tensors = _file_tensors()
    del tensors["final_norm_audio.weight"]
    tensors["block.layers.9.mlp.extra.weight"] = torch.zeros(2)
    tensors["adapter.text_embedder.weight"] = torch.zeros(64, 81)
    safetensors_torch.save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointMismatch) as caught:
        load_dit(tmp_path, config=DiTConfig.from_dict(tiny_configs["arch_config"]))
    message = str(caught.value)
    assert "missing (1): final_norm_audio.weight" in message
    assert "unexpected (1): block.layers.9.mlp.extra.weight" in message
    assert "adapter.text_embedder.weight (64, 81) != (64, 80)" in message


def test_sr_weights_do_not_load_into_a_mismatched_config(tiny_configs) -> None:
    """The same names, other sizes: a config that disagrees with the file is refused, not half-loaded."""
    arch = {k: v for k, v in tiny_configs["sr_arch_config"].items() if not k.startswith("num_heads")}
    with pytest.raises(CheckpointMismatch, match="wrong shape"):
        load_dit(MAGI_DATA / "dit_tiny_sr", config=DiTConfig.from_dict({**arch, "hidden_size": 32}))


def test_directory_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_dit(tmp_path, config=DiTConfig(num_layers=1, hidden_size=64, head_dim=16, num_query_groups=2,
                                            mm_layers=(0,), gelu7_layers=()))
