"""The ``magihuman`` engine: daVinci-MagiHuman (GAIR-NLP / Sand.ai, Apache-2.0), our own code.

The model, in the order a generation uses it:

- ``config``: the DiT's architecture (the reference ``ModelConfig`` field names);
- ``checkpoint``: loads the published checkpoint layout as it is (``load_dit``);
- ``packing``: lays video, audio and text latents out as the one token sequence
  the DiT reads, and takes its output apart again (``pack`` / ``unpack``);
- ``dit``: the single-stream DiT itself (``MagiDiT``);
- ``schedules`` and ``solvers``: the sigma/timestep schedules and guidance scales,
  and the update rules (UniPC for the base model, the distilled 8-step rule);
- ``sampling``: the denoising loop around any velocity function (CFG, the i2v
  image pin, a per-step callback for progress and cancel);
- ``sr``: the latent super-resolution stage.

Each is matched against golden tensors of the public reference
(``tests/data/magihuman/``). Nothing here imports torch at package import time.
"""
