"""Feature extraction: flip fusion, cache and resume, errors naming images, torchrun sharding."""
import cv2
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from facex_core import Backbone, extract_features
from facex_core.testing import collect_results


class Pool(Backbone):
    """Deterministic, weight-free: mean colour per quadrant row (flip-sensitive)."""

    def __init__(self, config=None):
        super().__init__(config)
        self.input_size, self.embedding_size = (8, 8), 6

    def forward(self, x):
        left, right = x[..., :4].mean(dim=(2, 3)), x[..., 4:].mean(dim=(2, 3))
        return torch.cat([left, right * 2], dim=1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    names = []
    for i in range(11):
        cv2.imwrite(str(root / f"{i}.png"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
        names.append(f"{i}.png")
    return root, names


def direct(root, name, flip):
    img = cv2.imread(str(root / name)).astype(np.float32)
    x = torch.from_numpy(((img - 127.5) / 128).transpose(2, 0, 1)).unsqueeze(0)
    net = Pool()
    f = net(x)
    if flip == "sum":
        f = f + net(torch.flip(x, dims=[3]))
    elif flip == "concat":
        f = torch.cat([f, net(torch.flip(x, dims=[3]))], 1)
    return torch.nn.functional.normalize(f, dim=1)[0].numpy()


@pytest.mark.parametrize("flip", ["none", "sum", "concat"])
def test_features_equal_a_direct_computation(images, flip):
    root, names = images
    feats = extract_features(Pool(), root, names, input_size=(8, 8), batch_size=4, flip=flip)
    for n in names:
        np.testing.assert_allclose(feats[n], direct(root, n, flip), atol=1e-6)


def test_cache_is_reused_and_resumes_from_chunks(images, tmp_path, monkeypatch):
    root, names = images
    import facex_core.engine.extract as ex

    monkeypatch.setattr(ex, "CHUNK", 4)
    first = extract_features(Pool(), root, names, input_size=(8, 8), cache_dir=tmp_path / "c")
    assert (tmp_path / "c" / "features.npy").exists()

    class Exploding(Pool):
        def forward(self, x):
            raise AssertionError("the cache should have answered")

    again = extract_features(Exploding(), root, names, input_size=(8, 8), cache_dir=tmp_path / "c")
    assert all(np.array_equal(first[n], again[n]) for n in names)
    # a killed run leaves chunk files: only the missing chunks are computed
    (tmp_path / "c" / "features.npy").unlink()
    np.save(tmp_path / "c" / "chunk_00000.npy", np.stack([first[n] for n in names[:4]]))
    calls = []

    class Counting(Pool):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    resumed = extract_features(Counting(), root, names, input_size=(8, 8), cache_dir=tmp_path / "c", flip="none")
    assert sum(calls) == 7 and all(np.allclose(first[n], resumed[n]) for n in names[:4])


def test_nan_feature_names_the_image(images):
    root, names = images

    class NaNNet(Pool):
        def forward(self, x):
            out = super().forward(x)
            out[1, 0] = float("nan")
            return out

    with pytest.raises(FloatingPointError, match=r"1\.png"):
        extract_features(NaNNet(), root, names, input_size=(8, 8), batch_size=4, flip="none")


def _rank(rank, world, store, root, names, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    feats = extract_features(Pool(), root, names, input_size=(8, 8), batch_size=3)
    queue.put((rank, np.stack([feats[n] for n in names])))
    dist.destroy_process_group()


def test_two_ranks_split_the_images_and_return_the_same_features(images, tmp_path):
    root, names = images
    single = extract_features(Pool(), root, names, input_size=(8, 8), batch_size=3)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, 2, str(tmp_path / "store"), root, names, queue)) for r in range(2)]
    for p in procs:
        p.start()
    for rank, feats in collect_results(queue, procs):
        np.testing.assert_allclose(feats, np.stack([single[n] for n in names]), atol=1e-6)


def test_preprocess_applies_the_models_input_convention():
    from facex_core import Preprocess

    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 250  # B, G, R
    facexzoo = Preprocess()(img, None)
    insightface = Preprocess(channels="RGB", mean=127.5, std=127.5)(img, None)
    np.testing.assert_allclose(facexzoo[:, 0, 0].numpy(), [(10 - 127.5) / 128, (20 - 127.5) / 128, (250 - 127.5) / 128])
    np.testing.assert_allclose(insightface[:, 0, 0].numpy(), [(250 - 127.5) / 127.5, (20 - 127.5) / 127.5,
                                                              (10 - 127.5) / 127.5], rtol=1e-6)
    upper = Preprocess(crop_eye=True)(np.zeros((112, 112, 3), np.uint8), (32, 32))
    assert tuple(upper.shape) == (3, 60, 112)
