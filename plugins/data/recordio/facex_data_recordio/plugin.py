"""Registration (light: no numpy, OpenCV or torch import).

* ``data_format`` component ``recordio``: ``[data] format = "recordio"``, ``root`` = the folder of
  ``train.rec``/``train.idx``/``property``, read without mxnet;
* command ``data pack``: an image folder or FaceX-Zoo train list into such a folder.
"""
from __future__ import annotations

from facex_core import Command, Component, config, hookimpl


@config
class RecordIOConfig:
    """A RecordIO folder needs no settings: labels and the class count are in its records and ``property``."""


@hookimpl
def facex_components():
    return [Component(kind="data_format", name="recordio",
                      summary="InsightFace/MXNet train.rec + train.idx + property (MS1M, Glint360K, WebFace42M)",
                      config=RecordIOConfig, factory="facex_data_recordio.format:RecordIOFormat")]


@hookimpl
def facex_commands():
    return [Command(name="pack", group="data", help="image folder or train list -> InsightFace train.rec/.idx/property",
                    setup="facex_data_recordio.pack:setup")]
