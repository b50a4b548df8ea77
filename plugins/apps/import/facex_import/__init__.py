"""facex-import: FaceX-Zoo and InsightFace trained models as FaceX checkpoints.

``facex-core import facexzoo|insightface`` (:mod:`facex_import.commands`) and the Python API
:func:`facex_import.pipeline.import_weights` read a source file without unpickling code, map its
tensors onto a FaceX backbone through a ``weights_importer`` component (:mod:`facex_import.importer`),
and write an ordinary FaceX backbone checkpoint that records the source and its input convention.
Importing this package is light (no torch).
"""
