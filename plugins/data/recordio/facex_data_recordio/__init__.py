"""InsightFace's RecordIO training sets for FaceX: the ``recordio`` data format, the file layer
(:mod:`facex_data_recordio.recordio`) and ``facex-core data pack``. Importing the package stays light
(the registration in :mod:`facex_data_recordio.plugin` is read by every ``facex-core`` command)."""
