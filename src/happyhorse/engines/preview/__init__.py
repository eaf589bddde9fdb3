"""The ``preview`` engine: procedural video and sound on the CPU, no neural network.

``engine`` is the entry (numbered steps: plan, render frames, mix audio);
``plan`` turns a spec into a seeded plan, ``scene``/``motion``/``refs`` draw
the frames for t2v/i2v/r2v, ``audio`` synthesizes the soundtrack.
"""
