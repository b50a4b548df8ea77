"""torch.distributed set-up from torchrun's environment, and small helpers around it."""
import os

import torch
import torch.distributed as dist


def world_rank() -> "tuple[int, int]":
    """(world size, rank); (1, 0) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


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
    """DDP communication hook that sums instead of averaging gradients.

    Used when the class centres are sharded: every rank then already back-propagates the loss of
    the *global* batch, so the backbone gradients of the ranks add up to the true gradient.
    """
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


#: Public name of :func:`init_from_env`.
init_distributed = init_from_env
