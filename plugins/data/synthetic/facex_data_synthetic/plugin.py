"""Registration of the synthetic face data set (light: no torch, OpenCV or numpy import).

* ``dataset`` component ``synthetic``: a ``[[prepare]]`` step that writes the data set to ``output``;
* commands ``data synth OUT`` and ``demo [CONFIG]``;
* the packaged config ``demo.toml`` (``facex-core demo``), found by name from any directory.
"""
from __future__ import annotations

from pathlib import Path

from facex_core import Command, Component, config, hookimpl, option

#: Test identities use global identity indices from here on, so they never coincide with training ones.
TEST_IDENTITY_OFFSET = 1_000_000


@config
class SyntheticConfig:
    """How much synthetic data to draw and how (a smoke-test data set, not a benchmark)."""

    train_identities: int = option(200, doc="Number of training identities (classes).",
                                   ge=1, le=TEST_IDENTITY_OFFSET)
    train_images_per_identity: int = option(20, doc="Images drawn per training identity.", ge=1)
    shallow: bool = option(False, doc="Shallow data: exactly two images per training identity (the regime "
                                      "Semi-Siamese Training is made for); overrides train_images_per_identity.")
    test_identities: int = option(120, doc="Number of test identities, disjoint from the training ones.", ge=2)
    test_images_per_identity: int = option(4, doc="Images drawn per test identity (at least 2).", ge=2)
    pairs_per_fold: int = option(60, doc="Verification pairs per fold, half positive and half negative (even).",
                                 ge=2)
    folds: int = option(10, doc="Number of LFW-style folds; each test identity appears in one fold only.", ge=1)
    seed: int = option(0, doc="Seed of every random choice; same seed, same bytes.", ge=0)
    image_size: int = option(112, doc="Side of the square images in pixels.", ge=32, le=1024)
    jpeg_quality: int = option(95, doc="JPEG quality of the written images (1-100).", ge=1, le=100)

    @property
    def images_per_train_identity(self) -> int:
        """Images drawn per training identity once ``shallow`` is applied."""
        return 2 if self.shallow else self.train_images_per_identity


@config
class SyntheticDataConfig(SyntheticConfig):
    """A ``[[prepare]]`` step ``name = "synthetic"``: the generator's settings and the folder to write."""

    output: str = option("data/synthetic", doc="Folder of the data set (train/, test/, synthetic.json); "
                                               "relative paths start at the working directory.")


@hookimpl
def facex_components():
    return [Component(kind="dataset", name="synthetic",
                      summary="procedural cartoon faces in FaceX-Zoo's train-list and LFW pairs formats "
                              "(a smoke test, not a benchmark)",
                      config=SyntheticDataConfig, factory="facex_data_synthetic.maker:SyntheticFaces")]


@hookimpl
def facex_commands():
    return [Command(name="synth", group="data", help="write a synthetic identity data set in the real formats",
                    setup="facex_data_synthetic.synth:setup"),
            Command(name="demo", help="a config's [[prepare]] data -> train -> untrained vs trained evaluation "
                                      "(default: synthetic faces, demo.toml)",
                    setup="facex_data_synthetic.demo:setup")]


@hookimpl
def facex_packaged_configs():
    return {"demo.toml": str(Path(__file__).with_name("demo.toml"))}
