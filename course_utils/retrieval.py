"""Image retrieval and few-shot classification on frozen features.

* :class:`FeatureIndex` / :func:`build_index` / :func:`search`: an index over (N, D) features with
  exact cosine top-k search, in torch, or with FAISS (``faiss-cpu``, ``IndexFlatIP``: also exact)
  for large collections. Both give the same neighbours on the same data.
* :func:`few_shot_curve`: accuracy of scikit-learn classifiers (1-nearest-neighbour and a
  logistic-regression linear probe) trained on 1, 2, 5, 10... labelled examples per class.

Evaluation metrics of retrieval (recall@k) and the DINO paper's temperature-weighted k-NN are
*not* here on purpose: Assignment 4 asks students to write them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .features import FeatureMismatchError, Features
from .tiny import is_random

__all__ = ["FeatureIndex", "build_index", "search", "few_shot_curve", "FewShotResult", "sample_shots",
           "faiss_available"]

#: ``backend="auto"`` uses FAISS from this many database vectors on (when installed). On a 2-core CPU
#: the torch matrix product was faster at 100k x 384 (benchmarks/bench_dinov2.py), so FAISS is kept
#: for collections too large for one chunked product to be cheap.
FAISS_MIN_SIZE = 1_000_000
#: Largest (queries x database) score block computed at once by the torch backend.
_BLOCK = 1 << 26


def faiss_available() -> bool:
    """True when ``faiss`` (``pip install faiss-cpu``) can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _vectors(x: Any, what: str) -> tuple[torch.Tensor, str | None]:
    """-> (N, D) float32 CPU tensor and the model key (None for raw arrays)."""
    key = None
    if isinstance(x, Features):
        key, x = x.model_key, x.cls
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().float().cpu()
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"{what} must be (N, D) vectors (e.g. features.cls), got shape {tuple(t.shape)}. "
                         "For patch features use features.patches.reshape(-1, D).")
    if t.shape[0] == 0:
        raise ValueError(f"{what} is empty: pass at least one vector.")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or inf.")
    return t, key


def _l2n(t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(t, dim=-1)


class FeatureIndex:
    """A cosine-similarity index over feature vectors of one model.

    Call :meth:`add` (once or several times), then :meth:`search` as often as you like.

    Args:
        backend: ``"torch"`` (exact, chunked matrix product), ``"faiss"`` (exact ``IndexFlatIP``;
            needs ``faiss-cpu``) or ``"auto"`` (FAISS for 1M+ vectors when installed).

    Attributes:
        labels: (N,) numpy array of labels when given to :meth:`add` (else None).
        names: One name per vector (from :class:`~course_utils.features.Features` or ``add``).
        model_key: The model the features came from (``None`` for raw arrays).
        random_weights: True when any features added came from random weights (tiny mode).
    """

    def __init__(self, backend: str = "torch"):
        if backend not in ("auto", "torch", "faiss"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'faiss', got {backend!r}.")
        if backend == "faiss" and not faiss_available():
            raise ImportError("backend='faiss' needs FAISS: pip install faiss-cpu (or use backend='torch').")
        self.backend = backend
        self.model_key: str | None = None
        self.random_weights = False
        self._db: torch.Tensor | None = None  # (N, D) L2-normalised
        self._faiss: Any = None
        self._labels: list[Any] = []
        self._unlabelled = False
        self.names: list[str] = []

    # ------------------------------------------------------------------ building
    def add(self, features: Features | torch.Tensor | np.ndarray, labels: Sequence[Any] | None = None,
            names: Sequence[str] | None = None) -> FeatureIndex:
        """Add database vectors (the CLS features of a :class:`Features`, or an (N, D) array).

        Args:
            features: :class:`~course_utils.features.Features` (its ``cls`` is indexed) or (N, D).
            labels: Optional label per vector (class, identity...), returned by :attr:`labels`.
            names: Optional name per vector (default: the features' names).

        Returns:
            ``self``, so that ``FeatureIndex().add(db)`` chains.

        Raises:
            FeatureMismatchError: the features come from another model than those already added.
            ValueError: wrong shape or label count.
        """
        vectors, key = _vectors(features, "features")
        if self._db is not None:
            if key is not None and self.model_key is not None and key != self.model_key:
                raise FeatureMismatchError(
                    f"This index holds features of {self.model_key!r}; cannot add features of {key!r}. "
                    "Features of different models live in different spaces: build one index per model.")
            if vectors.shape[1] != self._db.shape[1]:
                raise FeatureMismatchError(f"Dimension {vectors.shape[1]} differs from the index's "
                                           f"{self._db.shape[1]}: these features come from another model.")
        self.model_key = self.model_key or key
        self.random_weights = self.random_weights or is_random(features)
        n = len(vectors)
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} vectors.")
        if labels is None:
            self._unlabelled = True  # labels are only reported when every vector has one
        else:
            self._labels.extend(list(labels))
        if names is None and isinstance(features, Features) and features.names:
            names = features.names
        self.names.extend(list(names) if names is not None else [""] * n)
        normed = _l2n(vectors)
        self._db = normed if self._db is None else torch.cat([self._db, normed])
        self._faiss = None  # rebuilt lazily
        return self

    def __len__(self) -> int:
        return 0 if self._db is None else int(self._db.shape[0])

    @property
    def dim(self) -> int:
        """Feature dimension D (0 while empty)."""
        return 0 if self._db is None else int(self._db.shape[1])

    @property
    def labels(self) -> np.ndarray | None:
        """(N,) labels, or None when any vector was added without labels."""
        return None if self._unlabelled or not self._labels else np.asarray(self._labels)

    @property
    def vectors(self) -> torch.Tensor:
        """(N, D) L2-normalised database vectors."""
        if self._db is None:
            raise RuntimeError("The index is empty: call add(features) first.")
        return self._db

    def _use_faiss(self) -> bool:
        if self.backend == "faiss":
            return True
        return self.backend == "auto" and len(self) >= FAISS_MIN_SIZE and faiss_available()

    # ------------------------------------------------------------------ searching
    def search(self, queries: Features | torch.Tensor | np.ndarray, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact cosine top-k.

        Args:
            queries: (Q, D) vectors or :class:`~course_utils.features.Features` of the same model.
            k: Neighbours per query, 1 <= k <= len(index).

        Returns:
            ``scores`` (Q, k) float32 cosine similarities, highest first, and ``indices`` (Q, k)
            int64 positions in the index.

        Raises:
            RuntimeError: the index is empty (call :meth:`add` first).
            FeatureMismatchError: queries from another model.
            ValueError: bad ``k``.
        """
        if self._db is None:
            raise RuntimeError("The index is empty: call add(features) before search().")
        q, key = _vectors(queries, "queries")
        if key is not None and self.model_key is not None and key != self.model_key:
            raise FeatureMismatchError(f"Queries come from {key!r} but the index holds {self.model_key!r}; "
                                       "extract queries with the same model as the database.")
        if q.shape[1] != self.dim:
            raise FeatureMismatchError(f"Queries have D={q.shape[1]}, the index D={self.dim}: "
                                       "they come from different models.")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        if k > len(self):
            raise ValueError(f"k={k} is larger than the index ({len(self)} vectors); use k <= {len(self)}.")
        q = _l2n(q)
        if self._use_faiss():
            return self._search_faiss(q, int(k))
        rows = max(1, _BLOCK // len(self))
        scores, indices = [], []
        with torch.inference_mode():
            for start in range(0, len(q), rows):
                sims = q[start:start + rows] @ self._db.T  # (q, N)
                s, i = sims.topk(int(k), dim=1)
                scores.append(s)
                indices.append(i)
        return torch.cat(scores), torch.cat(indices)

    def _search_faiss(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        import faiss

        if self._faiss is None:
            self._faiss = faiss.IndexFlatIP(self.dim)
            self._faiss.add(np.ascontiguousarray(self._db.numpy(), dtype=np.float32))
        s, i = self._faiss.search(np.ascontiguousarray(q.numpy(), dtype=np.float32), k)
        return torch.from_numpy(s), torch.from_numpy(i.astype(np.int64))

    def __repr__(self) -> str:
        return f"FeatureIndex({len(self)} vectors, D={self.dim}, model={self.model_key!r}, backend={self.backend!r})"


def build_index(features: Features | torch.Tensor | np.ndarray, labels: Sequence[Any] | None = None,
                backend: str = "torch") -> FeatureIndex:
    """A :class:`FeatureIndex` holding ``features`` (and their ``labels``)."""
    return FeatureIndex(backend).add(features, labels)


def search(index: FeatureIndex, queries: Features | torch.Tensor | np.ndarray,
           k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine top-k of ``queries`` in ``index``: ``scores, indices``, each (Q, k). See
    :meth:`FeatureIndex.search`."""
    if not isinstance(index, FeatureIndex):
        raise TypeError(f"index must be a FeatureIndex (build_index(features)), got {type(index).__name__}.")
    return index.search(queries, k)


# --------------------------------------------------------------------------- few-shot


def sample_shots(labels: Sequence[Any], shots: int, seed: int = 0) -> np.ndarray:
    """Indices of ``shots`` random examples of every class (sorted).

    Raises:
        ValueError: a class has fewer than ``shots`` examples.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for cls in np.unique(labels):
        where = np.flatnonzero(labels == cls)
        if len(where) < shots:
            raise ValueError(f"Class {cls!r} has only {len(where)} training examples, fewer than shots={shots}; "
                             "lower the shots or add examples.")
        picked.append(rng.choice(where, size=shots, replace=False))
    return np.sort(np.concatenate(picked))


@dataclass
class FewShotResult:
    """Accuracy per number of labelled examples per class.

    Attributes:
        shots: The shots-per-class values, e.g. [1, 2, 5, 10].
        accuracy: Classifier name -> (len(shots),) mean test accuracy over the repeats.
        std: Classifier name -> (len(shots),) standard deviation over the repeats.
        repeats: Random draws of the training examples per point.
        n_test: Number of test examples.
        n_classes: Number of classes.
        random_weights: True when the features came from random weights (tiny mode).
    """

    shots: list[int]
    accuracy: dict[str, np.ndarray] = field(default_factory=dict)
    std: dict[str, np.ndarray] = field(default_factory=dict)
    repeats: int = 1
    n_test: int = 0
    n_classes: int = 0
    random_weights: bool = False

    def table(self) -> str:
        """A small text table (one row per shots value)."""
        names = list(self.accuracy)
        lines = ["shots/class | " + " | ".join(names)]
        for j, s in enumerate(self.shots):
            lines.append(f"{s:>11} | " + " | ".join(f"{self.accuracy[n][j]:.3f} ± {self.std[n][j]:.3f}".rjust(len(n))
                                                   for n in names))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"FewShotResult({self.n_classes} classes, {self.n_test} test, repeats={self.repeats})\n"
                + self.table())


def default_classifiers() -> dict[str, Any]:
    """The two classic probes of frozen self-supervised features (scikit-learn estimators).

    * ``"1-NN (cosine)"``: ``KNeighborsClassifier(n_neighbors=1, metric="cosine")``;
    * ``"linear probe"``: L2 normalisation then ``LogisticRegression``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return {
        "1-NN (cosine)": KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute"),
        "linear probe": make_pipeline(Normalizer(), LogisticRegression(max_iter=2000, C=10.0)),
    }


def few_shot_curve(train_features: Features | np.ndarray | torch.Tensor, train_labels: Sequence[Any],
                   test_features: Features | np.ndarray | torch.Tensor, test_labels: Sequence[Any],
                   shots: Sequence[int] = (1, 2, 5, 10), classifiers: Mapping[str, Any] | None = None,
                   repeats: int = 3, seed: int = 0) -> FewShotResult:
    """Test accuracy of classifiers trained on ``s`` examples per class, for each ``s`` in ``shots``.

    For every ``s`` and every repeat, :func:`sample_shots` draws ``s`` training examples per
    class, each classifier (a fresh ``sklearn.base.clone``) is fitted on their features and
    scored on the whole test set.

    Args:
        train_features: (N, D) features (or :class:`~course_utils.features.Features`: CLS used).
        train_labels: (N,) labels.
        test_features: (M, D) features of the same model.
        test_labels: (M,) labels.
        shots: Examples per class, e.g. (1, 2, 5, 10).
        classifiers: Name -> scikit-learn estimator; default :func:`default_classifiers`.
        repeats: Random draws per shots value (averaged).
        seed: Seed of the draws.

    Returns:
        :class:`FewShotResult` (``.accuracy[name]`` aligned with ``.shots``).

    Raises:
        FeatureMismatchError: train and test features from different models.
        ValueError: label counts do not match, or a class has too few examples for a shots value.
    """
    from sklearn.base import clone

    if isinstance(train_features, Features) and isinstance(test_features, Features):
        train_features.check_compatible(test_features)
    xtr, _ = _vectors(train_features, "train_features")
    xte, _ = _vectors(test_features, "test_features")
    if xtr.shape[1] != xte.shape[1]:
        raise FeatureMismatchError(f"Train D={xtr.shape[1]} and test D={xte.shape[1]} differ: different models.")
    ytr, yte = np.asarray(train_labels), np.asarray(test_labels)
    if len(ytr) != len(xtr) or len(yte) != len(xte):
        raise ValueError(f"Got {len(xtr)} train vectors / {len(ytr)} labels and {len(xte)} test vectors / "
                         f"{len(yte)} labels; they must match.")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    shots = [int(s) for s in shots]
    if not shots or min(shots) < 1:
        raise ValueError(f"shots must be positive integers, got {shots}.")
    classifiers = dict(classifiers) if classifiers is not None else default_classifiers()
    xtr_np, xte_np = xtr.numpy(), xte.numpy()
    acc = {name: np.zeros((len(shots), repeats)) for name in classifiers}
    for j, s in enumerate(shots):
        for r in range(repeats):
            idx = sample_shots(ytr, s, seed=seed + 1000 * r + s)
            for name, est in classifiers.items():
                fitted = clone(est).fit(xtr_np[idx], ytr[idx])
                acc[name][j, r] = float((fitted.predict(xte_np) == yte).mean())
    return FewShotResult(shots, {n: a.mean(axis=1) for n, a in acc.items()},
                         {n: a.std(axis=1) for n, a in acc.items()}, repeats, len(yte), len(np.unique(ytr)),
                         is_random(train_features, test_features))
