"""Procedural synthetic face-identity data for FaceX: a smoke test for the pipeline, NOT a benchmark.

Every image is a cartoon face drawn with OpenCV primitives; no real person is shown and no real data
set is used. Accuracy on it says only that the code paths work, never how a model does on real faces.

* :mod:`.plugin`: ``SyntheticConfig`` and the registration (``dataset`` ``synthetic``, ``data synth``,
  ``demo``, the packaged ``demo.toml``);
* :mod:`.identity` and :mod:`.render`: what an identity and an image of it look like, and the drawing;
* :mod:`.generate`: ``generate(cfg, folder)``, the on-disk layout, lists and LFW pairs;
* :mod:`.maker`: the ``[[prepare]]`` step; :mod:`.synth` and :mod:`.demo`: the commands.
"""
