"""``python -m course_utils.models``: the registry with its facts, as JSON (one object per model)."""

from __future__ import annotations

import json

from .registry import model_table

if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(model_table(), indent=1))
