"""Config fields shared by the flatten+FC backbone families (torch-free, for light registration)."""
from __future__ import annotations

from typing import ClassVar

from ..nn.geometry import feature_map_size, resolve_map_size
from ..configs.options import config, option


@config
class FlattenBackboneConfig:
    """Embedding size, input size and last-map size of a backbone ending in FaceX-Zoo's flatten+FC layer.

    Subclasses set :attr:`halvings` (stride-2 steps between input and last map) and
    :attr:`rounding`, add their own fields, and call ``super().__attrs_post_init__()`` first
    when they validate more.
    """

    halvings: ClassVar[int] = 4
    rounding: ClassVar[str] = "ceil"

    embedding_size: int = option(512, doc="Length D of the output embedding (FaceX-Zoo: feat_dim).", ge=1)
    input_size: tuple[int, int] = option((112, 112), doc="Input (H, W); (60, 112) for FaceX-Zoo's upper-half-face crop.",
                                         ge=1)
    out_h: int | None = option(None, doc="Height of the last feature map; derived from input_size when unset "
                                         "(7 at 112, 4 at 60), checked against it when set.", ge=1)
    out_w: int | None = option(None, doc="Width of the last feature map; derived from input_size when unset, "
                                         "checked against it when set.", ge=1)

    def __attrs_post_init__(self) -> None:
        resolve_map_size(self.input_size, self.out_h, self.out_w, self.halvings, self.rounding)

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last feature map's size, which the embedding layer flattens."""
        return feature_map_size(self.input_size, self.halvings, self.rounding)
