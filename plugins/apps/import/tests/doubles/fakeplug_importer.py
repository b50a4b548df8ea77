"""A third-party importer as another distribution would ship it: ``facexzoo.mynet`` reads a
MobileFaceNet whose owner saved it as ``{'net': {'trunk.<key>': tensor}}``."""
from facex_core import Component, config, hookimpl, option


@config
class MyNetSection:
    feat_dim: int = option(512, ge=1, doc="embedding length")


@hookimpl
def facex_components():
    return [Component(kind="weights_importer", name="facexzoo.mynet", summary="a MobileFaceNet saved as trunk.*",
                      config=MyNetSection, factory="fakeplug_importer:MyNetImporter")]


def _importer_class():
    from facex_import.facexzoo.base import FaceXZooImporter

    class MyNetImporter(FaceXZooImporter):
        def backbone_table(self):
            return {"name": "mobilefacenet", "embedding_size": self.config.feat_dim, "input_size": [112, 112]}

        def backbone_state(self, source):
            return dict(source.state)

        def rename(self, key):
            return key[len("trunk."):] if key.startswith("trunk.") else key

    return MyNetImporter


def __getattr__(name):
    if name == "MyNetImporter":
        return _importer_class()
    raise AttributeError(name)
