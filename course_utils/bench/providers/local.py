"""Local open models through transformers (BLIP on CPU; BLIP-2 / LLaVA on a GPU), batched.

The text each model class gets (its prompt format) is data: ``course_utils/data/bench/vlm_prompts.json``,
with where each format comes from.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from ... import tiny as tiny_mode
from .base import GenerationParams, Provider, ProviderRequest, ProviderResponse

__all__ = ["TransformersProvider", "prompt_templates", "prompt_text"]


@lru_cache(maxsize=1)
def prompt_templates() -> dict[str, dict[str, Any]]:
    """The prompt format of each model class (``vlm_prompts.json``), by transformers architecture name."""
    path = resources.files("course_utils").joinpath("data/bench/vlm_prompts.json")
    return json.loads(path.read_text("utf-8"))["templates"]


def prompt_text(template: Mapping[str, Any], request: ProviderRequest) -> str:
    """The text a model with ``template`` gets for ``request`` (``""``: no text)."""
    return str(template[request.kind]).format(question=request.question or request.prompt, prompt=request.prompt)


class TransformersProvider(Provider):
    """A local open model through transformers, run in a worker thread, batched.

    Args:
        name: Registry name: ``blip_caption_base``, ``blip_vqa_base`` (CPU OK), ``blip2_opt_2.7b``,
            ``llava_1.5_7b`` (GPU; pass ``dtype="float16"`` or ``load_in_8bit=True``).
        tiny: Tiny random variant (BLIP only); ``None`` follows ``COURSE_UTILS_TINY``.
        device: ``"cpu"``, ``"cuda"``...
        batch_size: Images per forward pass.
        usd_per_hour: Optional price of the machine (e.g. a rented GPU) to put local runs in the
            cost ledger; 0 by default (the electricity of a laptop is not counted).
        dtype, load_in_8bit: Passed to :func:`course_utils.models.load_captioner`.
    """

    provider = "local"
    open_source = True
    max_concurrency = 1  # one forward pass at a time; batching gives the parallelism

    def __init__(self, name: str = "blip_vqa_base", tiny: bool | None = None, device: str | None = None,
                 batch_size: int = 8, usd_per_hour: float = 0.0, dtype: str | None = None,
                 load_in_8bit: bool = False, seed: int = 0):
        from ...models import get_spec

        spec = get_spec(name)
        if spec.family not in ("captioner", "vqa"):
            raise ValueError(f"{name!r} is not a captioning/VQA model; use blip_caption_base, blip_vqa_base, "
                             "blip2_opt_2.7b or llava_1.5_7b.")
        self.spec = spec
        self.model = name
        # Licences follow the weights: BLIP-2 (OPT) and LLaVA (Llama 2) are open weights, not open source.
        self.open_source = bool(spec.open_source) if spec.open_source is not None else True
        self.random_weights = tiny_mode.enabled(tiny)
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.usd_per_hour = float(usd_per_hour)
        self._load_kwargs = {"dtype": dtype, "load_in_8bit": load_in_8bit, "seed": seed}
        self._loaded: Any = None
        self._lock = threading.Lock()  # not an asyncio.Lock: the provider may serve several event loops

    @property
    def tiny(self) -> bool:
        """The tiny random variant (the same flag as ``random_weights``)."""
        return self.random_weights

    @property
    def identity(self) -> str:
        return f"local:{self.model}{'-TINY-RANDOM' if self.tiny else ''}"

    @property
    def label(self) -> str:
        return f"{self.model}{' (tiny random)' if self.tiny else ''} (local)"

    def load(self) -> Any:
        """Load the model now (otherwise it loads on the first call)."""
        if self._loaded is None:
            from ...models import load_captioner, load_vqa

            loader = load_vqa if self.spec.family == "vqa" else load_captioner
            self._loaded = loader(self.model, tiny=self.tiny, device=self.device, **self._load_kwargs)
        return self._loaded

    def _run_batch(self, requests: Sequence[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        if self.spec.arch == "BlipForQuestionAnswering" and len(requests) > 1:
            # BLIP VQA's generate() attends to every question token including padding (its mask is all
            # ones), so padded batches change answers. Batch only questions of equal token length.
            tokenizer = self.load().processor.tokenizer
            groups: dict[int, list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault(len(tokenizer(r.question or r.prompt)["input_ids"]), []).append(i)
            if len(groups) > 1:
                out: list[ProviderResponse | None] = [None] * len(requests)
                for idx in groups.values():
                    for i, resp in zip(idx, self._run_group([requests[i] for i in idx], params)):
                        out[i] = resp
                return [r for r in out if r is not None]
        return self._run_group(requests, params)

    def _run_group(self, requests: Sequence[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        import io

        import torch
        from PIL import Image

        from ...tiny.vlm import tiny_generate_kwargs

        lm = self.load()
        images = [Image.open(io.BytesIO(r.image)).convert("RGB") for r in requests]
        arch = self.spec.arch or ""
        tokenizer = getattr(lm.processor, "tokenizer", lm.processor)
        template = prompt_templates().get(arch)
        decoder_only = bool(template and template["decoder_only"])
        texts = [prompt_text(template, r) for r in requests] if template else None
        if decoder_only:
            tokenizer.padding_side = "left"  # batched generation with a decoder-only LM
        kwargs: dict[str, Any] = {"images": images, "return_tensors": "pt"}
        if texts is not None and (any(texts) or decoder_only):
            kwargs.update(text=texts, padding=True)
        inputs = dict(lm.processor(**kwargs))
        inputs.pop("token_type_ids", None)
        device = next(lm.model.parameters()).device
        dtype = next(lm.model.parameters()).dtype
        inputs = {k: (v.to(device, dtype) if k == "pixel_values" else v.to(device)) for k, v in inputs.items()}
        gen_kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens, "do_sample": False}
        if self.tiny:
            gen_kwargs.update(tiny_generate_kwargs(tokenizer))
        with torch.inference_mode():
            out = lm.model.generate(**inputs, **gen_kwargs)
        prompt_len = 0
        if decoder_only and "input_ids" in inputs:
            n = inputs["input_ids"].shape[1]
            if out.shape[1] >= n and torch.equal(out[:, :n].to(inputs["input_ids"].device), inputs["input_ids"]):
                prompt_len = n  # the decoder returned prompt + answer: keep the answer
        pad = getattr(tokenizer, "pad_token_id", None)
        in_tokens = inputs["attention_mask"].sum(dim=1).tolist() if "attention_mask" in inputs else [0] * len(images)
        responses = []
        for i, row in enumerate(out):
            new = row[prompt_len:]
            text = tokenizer.decode(new, skip_special_tokens=True).strip()
            n_out = int((new != pad).sum()) if pad is not None else int(new.numel())
            responses.append(ProviderResponse(text, int(in_tokens[i]), n_out, self.model))
        return responses

    async def prepare(self) -> None:
        await asyncio.to_thread(self.load)

    async def generate_batch(self, requests: Sequence[ProviderRequest],
                             params: GenerationParams) -> list[ProviderResponse]:
        return await asyncio.to_thread(self._locked_batch, list(requests), params)

    def _locked_batch(self, requests: list[ProviderRequest], params: GenerationParams) -> list[ProviderResponse]:
        with self._lock:  # one forward pass at a time on this model
            return self._run_batch(requests, params)

    async def generate(self, request: ProviderRequest, params: GenerationParams) -> ProviderResponse:
        return (await self.generate_batch([request], params))[0]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tiny": self.tiny, "usd_per_hour": self.usd_per_hour}
