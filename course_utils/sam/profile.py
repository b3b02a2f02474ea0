"""Teaching: seconds spent in each of SAM's three parts (image encoder, prompt encoder, mask decoder)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from segment_anything import SamPredictor

from .session import SamSession

__all__ = ["profile_parts"]


@torch.no_grad()
def profile_parts(session: SamSession, points: Any = None, labels: Any = None, box: Any = None,
                  repeats: int = 3) -> dict[str, float]:
    """Seconds spent in each of SAM's three parts for one prompt on the session's current image.

    The image encoder is timed once (it runs on ``session.image`` again, bypassing the cache);
    the prompt encoder and mask decoder are timed as the median of ``repeats`` runs.

    Returns:
        ``{"image_encoder": s, "prompt_encoder": s, "mask_decoder": s, "postprocess": s}``.
    """
    session._require_image("profile_parts")
    pred = session.predictor
    if not isinstance(pred, SamPredictor):
        raise TypeError("profile_parts times segment-anything's SAM parts; for SAM 2 / EdgeTAM see "
                        "benchmarks/bench_sam_cpu.py.")
    coords, labs, box_arr, _ = session.validate_prompts(points, labels, box)
    sam = session.model

    def sync() -> None:
        if session.device.type == "cuda":
            torch.cuda.synchronize()

    input_image = pred.transform.apply_image(session.image)
    x = torch.as_tensor(input_image, device=session.device).permute(2, 0, 1).contiguous()[None]
    sync()
    start = time.perf_counter()
    features = sam.image_encoder(sam.preprocess(x))
    sync()
    times = {"image_encoder": time.perf_counter() - start}
    pts = None
    if coords is not None:
        c = torch.as_tensor(pred.transform.apply_coords(coords, pred.original_size), device=session.device)[None]
        pts = (c, torch.as_tensor(labs, device=session.device)[None])
    bxs = None
    if box_arr is not None:
        bxs = torch.as_tensor(pred.transform.apply_boxes(box_arr, pred.original_size), device=session.device)
    runs: dict[str, list[float]] = {"prompt_encoder": [], "mask_decoder": [], "postprocess": []}
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        sparse, dense = sam.prompt_encoder(points=pts, boxes=bxs, masks=None)
        sync()
        t1 = time.perf_counter()
        low_res, _iou = sam.mask_decoder(image_embeddings=features, image_pe=sam.prompt_encoder.get_dense_pe(),
                                         sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                         multimask_output=True)
        sync()
        t2 = time.perf_counter()
        _ = sam.postprocess_masks(low_res, pred.input_size, pred.original_size) > sam.mask_threshold
        sync()
        t3 = time.perf_counter()
        runs["prompt_encoder"].append(t1 - t0)
        runs["mask_decoder"].append(t2 - t1)
        runs["postprocess"].append(t3 - t2)
    times.update({k: float(np.median(v)) for k, v in runs.items()})
    return times
