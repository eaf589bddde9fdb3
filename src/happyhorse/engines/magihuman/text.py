"""The text encoder: T5Gemma's encoder through ``transformers``, padded or trimmed as the reference does.

The reference tokenizes the prompt as one sequence (the tokenizer's own
special tokens), runs ``T5GemmaEncoderModel`` and takes ``last_hidden_state``;
the DiT then reads at most ``t5_gemma_target_length`` (640) rows, the rest
zero padding. ``TextEncoder.encode`` returns that as a
:class:`~happyhorse.engines.magihuman.sampling.TextCondition`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from happyhorse.engines.magihuman.sampling import TextCondition


class TextEncoder:
    """T5Gemma's encoder and tokenizer from a local folder (``local_files_only``: nothing is downloaded)."""

    def __init__(self, folder: Path, *, dtype: Any, length: int) -> None:
        from transformers import AutoTokenizer, T5GemmaEncoderModel

        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = T5GemmaEncoderModel.from_pretrained(folder, dtype=dtype, local_files_only=True,
                                                         is_encoder_decoder=False).eval()
        self.model.requires_grad_(False)
        self.length = length

    @property
    def channels(self) -> int:
        return int(self.model.config.encoder.hidden_size)

    def encode(self, prompt: str, device: Any) -> TextCondition:
        """``[1, length, C]`` float32 on ``device``: the prompt's rows, then zeros."""
        import torch

        tokens = self.tokenizer([prompt], return_tensors="pt")
        model_device = next(self.model.parameters()).device
        with torch.inference_mode():
            hidden = self.model(input_ids=tokens["input_ids"].to(model_device),
                                attention_mask=tokens["attention_mask"].to(model_device)).last_hidden_state
        rows = hidden[0, : self.length].float()
        embedding = torch.zeros((1, self.length, rows.shape[-1]), dtype=torch.float32, device=device)
        embedding[0, : rows.shape[0]] = rows.to(device)
        return TextCondition(embedding=embedding, length=int(rows.shape[0]))
