"""The zoo table compares like with like: every row has the same classifier head when asked."""

from __future__ import annotations

import pytest
import timm
import torch

from course_utils.zoo import ZOO_NAMES, vit_zoo_table


def test_default_rows_mix_heads_and_num_classes_makes_them_uniform():
    default = {r["model"]: r["num_classes"] for r in vit_zoo_table()}
    assert default["vit_huge_patch14_224"] == 0 and default["vit_base_patch16_224"] == 1000  # the slip
    rows = vit_zoo_table(num_classes=1000)
    assert {r["num_classes"] for r in rows} == {1000}
    for r in rows:  # oracle: timm's own model with a 1000-class head
        with torch.device("meta"):
            m = timm.create_model(r["model"], num_classes=1000)
        assert r["params"] == sum(p.numel() for p in m.parameters())
    huge = next(r for r in rows if r["model"] == "vit_huge_patch14_224")
    # Dosovitskiy et al. 2021, Table 1: ViT-Huge 632M (the IN-1k head adds 1280 * 1000 + 1000).
    assert huge["params_m"] == pytest.approx(632.0, abs=0.05)
    assert len(rows) == len(ZOO_NAMES)


def test_no_head_rows():
    rows = vit_zoo_table(["vit_base_patch16_224", "vit_huge_patch14_224"], num_classes=0)
    assert [r["num_classes"] for r in rows] == [0, 0]
    assert rows[0]["params_m"] == pytest.approx(85.8, abs=0.05)
