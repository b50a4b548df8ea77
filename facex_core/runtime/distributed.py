"""Devices and processes: the ``device = "auto"`` rule and torch.distributed set-up from torchrun's environment."""
import os

import torch
import torch.distributed as dist


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; others as given (``ValueError`` if unknown or unavailable)."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"device {spec!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available on this machine (use 'cpu' or 'auto')")
    return device


def world_rank() -> "tuple[int, int]":
    """(world size, rank); (1, 0) without an initialised process group."""
    return (dist.get_world_size(), dist.get_rank()) if dist.is_available() and dist.is_initialized() else (1, 0)


def init_from_env() -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); returns whether distributed."""
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def is_main() -> bool:
    return world_rank()[1] == 0


def sum_gradients_hook(state: object, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook that sums instead of averaging gradients: with sharded class centres
    every rank back-propagates the loss of the *global* batch, so the ranks' gradients add up."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


