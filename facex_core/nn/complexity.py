"""Parameter and MAC counts of a network, measured with torch's own FLOP counter."""
from __future__ import annotations

import torch


def count_params_and_macs(model: torch.nn.Module, input_size: tuple[int, int] | None = None) -> dict[str, float]:
    """Parameter count and multiply-accumulates (FLOPs / 2) of one image, in eval mode on CPU."""
    from torch.utils.flop_counter import FlopCounterMode

    size = input_size or getattr(model, "input_size", (112, 112))
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, 3, *size))
        flops = counter.get_total_flops()
    finally:
        model.train(was_training)
    return {"params": params, "macs": flops / 2, "input_size": list(size)}
