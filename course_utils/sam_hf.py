"""SamSession for transformers' single-image SAM 2 models (``Sam2Model``, ``EdgeTamModel``).

:class:`course_utils.sam.SamSession` talks to a predictor with segment-anything's ``SamPredictor``
interface (``set_image``, ``predict``, ``get_image_embedding``, ``reset_image``). :class:`HFSamPredictor`
offers that interface on top of a transformers model and its ``Sam2Processor``, and uses the session's
:class:`~course_utils.sam.EmbeddingCache` (memory and disk) the same way: the image encoder runs once per
image, every prompt after it only runs the prompt encoder and the mask decoder.

:func:`attach_predictor` (called by :func:`course_utils.sam2_models.load_sam2_image`) marks the model so
that ``SamSession(load_sam2_image("edgetam"))`` picks this predictor; the widget and the dashboard need
no change. Low-resolution logits keep SamSession's contract, (M, 256, 256), at every model size.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .models import LoadedModel
from .sam import EmbeddingCache, _Entry, _image_hash

__all__ = ["HFSamPredictor", "attach_predictor", "hf_fingerprint", "choose_cpu_sam"]

_LOW_RES = 256


def hf_fingerprint(loaded: LoadedModel) -> str:
    """Cache key of the embeddings a transformers SAM 2 model computes: registry name and hub ref for
    pretrained weights; architecture and a hash of the vision encoder's weights for random ones."""
    model = loaded.model
    vision = model.vision_encoder
    n = sum(p.numel() for p in vision.parameters())
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    arch = f"{type(model).__name__}-{n}-{dtype}"
    if not loaded.random_weights:
        return f"{loaded.spec.name}-{loaded.spec.ref.replace('/', '_')}-{arch}"
    digest = hashlib.blake2b(digest_size=12)
    for tensor in vision.state_dict().values():
        digest.update(tensor.detach().to("cpu").float().contiguous().numpy().tobytes())
    return f"tiny-{arch}-{digest.hexdigest()}"


class HFSamPredictor:
    """``SamPredictor``'s interface over a transformers ``Sam2Model`` / ``EdgeTamModel``.

    Args:
        model: The transformers model (marked by :func:`attach_predictor`, which also set its processor).
        cache: Embedding cache shared with :class:`~course_utils.sam.SamSession` (``None`` = no cache).
        fingerprint: Cache key of the model.
    """

    def __init__(self, model: Any, cache: EmbeddingCache | None, fingerprint: str):
        self.model = model
        self.processor = model._course_utils_processor
        self.cache = cache
        self.fingerprint = fingerprint
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.sizes = [tuple(s) for s in model.backbone_feature_sizes]  # [(256, 256), (128, 128), (64, 64)]
        hidden = model.config.vision_config.fpn_hidden_size  # the two high-res levels are projected to 1/8, 1/4
        self.channels = [hidden // 8, hidden // 4, hidden]
        self.last_cache_hit: str | None = None
        self.last_encoder_seconds: float | None = None
        self.reset_image()

    def reset_image(self) -> None:
        self.is_image_set = False
        self.features: list[torch.Tensor] | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    def _pack(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([f.detach().float().reshape(-1).cpu() for f in feats])

    def _unpack(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for c, (h, w) in zip(self.channels, self.sizes):
            n = c * h * w
            out.append(flat[start:start + n].view(1, c, h, w).to(self.device, self.dtype))
            start += n
        if start != flat.numel():
            raise ValueError(f"A cached embedding has {flat.numel()} values, not {start}; clear the cache.")
        return out

    @torch.inference_mode()
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Compute (or fetch from the cache) the multi-scale image embedding of an HWC uint8 RGB image."""
        image = np.ascontiguousarray(image)
        if not image.flags.writeable:
            image = image.copy()  # torch.from_numpy (inside the processor) wants a writable array
        key = (self.fingerprint, _image_hash(image))
        entry, where = self.cache.get(key) if self.cache is not None else (None, None)
        self.reset_image()
        if entry is not None:
            self.features = self._unpack(entry.features)
            self.last_cache_hit = where
        else:
            start = time.perf_counter()
            pixels = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device, self.dtype)
            self.features = self.model.get_image_embeddings(pixels)
            self.last_encoder_seconds = time.perf_counter() - start
            self.last_cache_hit = None
            if self.cache is not None:
                side = self.processor.target_size
                self.cache.put(key, _Entry(self._pack(self.features), tuple(image.shape[:2]), (side, side)))
        self.original_size = (int(image.shape[0]), int(image.shape[1]))
        self.input_size = (self.processor.target_size, self.processor.target_size)
        self.is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The lowest-resolution image embedding, (1, 256, 64, 64) at full size (the one the decoder attends
        to; the two higher-resolution levels feed its upsampling)."""
        if not self.is_image_set or self.features is None:
            raise RuntimeError("An image must be set with .set_image(...) before embedding calculation.")
        return self.features[-1]

    @torch.inference_mode()
    def predict(self, point_coords: np.ndarray | None = None, point_labels: np.ndarray | None = None,
                box: np.ndarray | None = None, mask_input: np.ndarray | None = None,
                multimask_output: bool = True, return_logits: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for validated prompts (same arguments and outputs as ``SamPredictor.predict``)."""
        if not self.is_image_set or self.features is None or self.original_size is None:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        kwargs: dict[str, Any] = {"original_sizes": [list(self.original_size)], "return_tensors": "pt"}
        if point_coords is not None:
            kwargs["input_points"] = [[np.asarray(point_coords, dtype=np.float32).tolist()]]
            kwargs["input_labels"] = [[np.asarray(point_labels).astype(int).tolist()]]
        if box is not None:
            kwargs["input_boxes"] = [[np.asarray(box, dtype=np.float32).reshape(4).tolist()]]
        enc = self.processor(**kwargs)
        inputs = {k: enc[k].to(self.device) for k in ("input_points", "input_labels", "input_boxes") if k in enc}
        if "input_points" in inputs:
            inputs["input_points"] = inputs["input_points"].to(self.dtype)
        if "input_boxes" in inputs:
            inputs["input_boxes"] = inputs["input_boxes"].to(self.dtype)
        if mask_input is not None:
            inputs["input_masks"] = torch.as_tensor(mask_input, device=self.device, dtype=self.dtype)[None]
        out = self.model(image_embeddings=self.features, multimask_output=multimask_output, **inputs)
        low = out.pred_masks[0, 0].float()  # (M, h, w) logits
        masks = self.processor.post_process_masks(out.pred_masks.float().cpu(), [list(self.original_size)],
                                                  binarize=not return_logits)[0][0]
        if low.shape[-2:] != (_LOW_RES, _LOW_RES):
            low = F.interpolate(low[None], size=(_LOW_RES, _LOW_RES), mode="bilinear", align_corners=False)[0]
        scores = out.iou_scores[0, 0].float().cpu().numpy()
        return masks.numpy(), scores.astype(np.float32), low.cpu().numpy().astype(np.float32)


def attach_predictor(loaded: LoadedModel) -> LoadedModel:
    """Mark a loaded ``Sam2Model`` / ``EdgeTamModel`` so that :class:`~course_utils.sam.SamSession` drives
    it through :class:`HFSamPredictor` (predictor class, processor and cache fingerprint as attributes)."""
    model = loaded.model
    model._course_utils_predictor = HFSamPredictor
    model._course_utils_processor = loaded.processor
    model._course_utils_fingerprint = hf_fingerprint(loaded)
    return loaded


def choose_cpu_sam(device: str | torch.device | None = None) -> str:
    """Registry name of the SAM for point / box prompting on ``device``: EdgeTAM on a CPU (the fastest to a
    first mask in benchmarks/bench_sam_cpu.py), SAM ViT-B on a GPU (the kit's GPU default)."""
    from .models import get_device

    return "edgetam" if get_device(device).type == "cpu" else "sam_vit_b"
