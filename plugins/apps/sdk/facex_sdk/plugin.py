"""Registration of the SDK commands (light: no numpy, cv2 or torch import).

``facex-core sdk detect|align|embed|compare|search|annotate|calibrate``, ``facex-core sdk gallery
build|add|remove|info`` and ``facex-core data align``;
each command's arguments are loaded only when it is chosen.
"""
from facex_core import Command, hookimpl

_COMMANDS = "facex_sdk.commands"
_GALLERY = "facex_sdk.gallery_commands"


@hookimpl
def facex_commands():
    return [
        Command(name="sdk", help="run the SDK stages: detect, align, embed, compare, search, annotate, calibrate"),
        Command(name="detect", group="sdk", help="faces per image as JSON lines (boxes, scores, landmarks)",
                setup=f"{_COMMANDS}:setup_detect"),
        Command(name="align", group="sdk", help="aligned crops (<image stem>_<i>.jpg) of every face",
                setup=f"{_COMMANDS}:setup_align"),
        Command(name="embed", group="sdk", help="embeddings of every face -> .npz (embeddings, names, boxes, ...)",
                setup=f"{_COMMANDS}:setup_embed"),
        Command(name="compare", group="sdk", help="similarity of the main faces of two images and the decision",
                setup=f"{_COMMANDS}:setup_compare"),
        Command(name="search", group="sdk", help="rank the identities of a gallery (file or folder) for probe images",
                setup=f"{_COMMANDS}:setup_search"),
        Command(name="gallery", group="sdk", help="gallery files: build, add, remove, info"),
        Command(name="build", group="sdk gallery", help="embed identity folders or `sdk embed` files into a gallery file",
                setup=f"{_GALLERY}:setup_build"),
        Command(name="add", group="sdk gallery", help="add identities (or faces of known ones) to a gallery file",
                setup=f"{_GALLERY}:setup_add"),
        Command(name="remove", group="sdk gallery", help="remove identities from a gallery file",
                setup=f"{_GALLERY}:setup_remove"),
        Command(name="info", group="sdk gallery", help="what a gallery file holds", setup=f"{_GALLERY}:setup_info"),
        Command(name="annotate", group="sdk",
                help="images and videos with boxes, scores, landmarks (and gallery identities) drawn",
                setup=f"{_COMMANDS}:setup_annotate"),
        Command(name="calibrate", group="sdk", help="decision threshold for a target FAR from labelled pairs",
                setup="facex_sdk.calibrate:setup_calibrate"),
        Command(name="align", group="data", help="raw photos (one sub-folder per identity) -> aligned 112x112 crops",
                setup="facex_sdk.align_data:setup_data_align"),
    ]
