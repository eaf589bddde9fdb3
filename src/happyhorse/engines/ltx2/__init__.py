"""The ``ltx2`` engine: LTX-2 (Lightricks) through diffusers, on local weights.

``engine`` runs the pipelines, ``options`` validates what the operator chose,
``shapes`` fits SPEC sizes and lengths to the model's, ``weights`` checks and
downloads a weights directory. Nothing here imports torch or diffusers at
package import time.
"""
