"""The ``ltx2`` engine: LTX-2 and LTX-2.3 (Lightricks) through diffusers, on local weights.

``engine`` loads the pipelines and runs a job's steps; ``stages`` lays a job
out as pipeline calls (one, or two-stage 1080p with the latent upsampler);
``calls`` builds each call's arguments; ``family`` tells LTX-2 from LTX-2.3 and
what that changes; ``decode`` turns video latents into frames a chunk at a
time as the encoder pulls them; ``options`` validates what the operator chose;
``shapes`` fits SPEC sizes and lengths to the model's; ``weights`` checks and
downloads a weights directory. Nothing here imports torch or diffusers at
package import time.
"""
