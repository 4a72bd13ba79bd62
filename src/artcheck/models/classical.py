"""Classical scikit-learn models behind the same ``train`` / ``evaluate`` / ``predict`` commands.

A classical model is a feature extractor plus a scikit-learn pipeline (standardise, then
the estimator). Registered names are ``ESTIMATOR-FEATURES``, e.g. ``logreg-forensic``:

- features ``pixels``: raw RGB at 32x32 (3,072 values; the seed project's reduced
  resolution, which is what keeps memory bounded: the scan caches 3 KB per image);
- ``forensic``: 28 weight-free values (:mod:`artcheck.lab.forensic`: radial spectrum,
  high-frequency energy, noise and NPR residual statistics) on a 256 px centre crop;
- ``clip``: the 512-d projected CLIP ViT-B/16 embedding (UnivFD's feature), from the
  verified INT8 ONNX backbone, about 5 images/s on 2 cores (``model_kwargs: {backbone: NAME}``
  picks another registered ONNX backbone);
- ``mobilenet`` / ``lite0``: the pooled 1280-d trunk of ImageNet MobileNetV2 /
  EfficientNet-Lite0 (offline weights from the index).

Backbone features are cached on disk by the hash of each preprocessed input.

Estimators: ``logreg`` (fixed C), ``probe`` (the UnivFD linear probe: logistic regression
with C chosen by 5-fold cross-validation), ``svm``, ``tree``, ``forest``, ``knn``.

Saved as ``model.skops`` (skops' format: no pickle, loading refuses any type not on
:data:`TRUSTED_TYPES`) beside the same ``model.json`` every run has. Like the torch models,
a classical model answers ``predict_arrays`` (uint8 batches at ``preprocess.input_size``)
and ``predict_proba``, so evaluation, robustness sweeps and occlusion maps work unchanged.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from artcheck.detect.preprocess import PreprocessConfig, predict_proba_images
from artcheck.labels import CLASSES
from artcheck.models.registry import register_model

SKOPS_FILE = "model.skops"
# Types a saved pipeline may hold beyond skops' defaults (trees, neighbour indexes).
TRUSTED_TYPES = frozenset({
    "sklearn.tree._tree.Tree", "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
})


def estimators() -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (description, factory of an unfitted estimator). One place owns these settings."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logreg": ("logistic regression, C=0.01, balanced",
                   lambda: LogisticRegression(C=0.01, max_iter=5000, class_weight="balanced")),
        "probe": ("linear probe: logistic regression, C chosen by 5-fold CV",
                  lambda: LogisticRegressionCV(Cs=np.logspace(-4, 2, 13), cv=5, max_iter=5000,
                                               class_weight="balanced", scoring="neg_log_loss")),
        "svm": ("RBF SVM, C=1, balanced, Platt probabilities (3-fold)",
                lambda: CalibratedClassifierCV(SVC(C=1.0, class_weight="balanced"), method="sigmoid", cv=3,
                                               ensemble=False)),
        "tree": ("decision tree, depth 6, balanced",
                 lambda: DecisionTreeClassifier(max_depth=6, random_state=0, class_weight="balanced")),
        "forest": ("random forest, 300 trees, balanced",
                   lambda: RandomForestClassifier(300, random_state=0, n_jobs=2, class_weight="balanced")),
        "knn": ("k-nearest neighbours, k=7", lambda: KNeighborsClassifier(7)),
    }


ESTIMATOR_NAMES = ("logreg", "probe", "svm", "tree", "forest", "knn")
FEATURE_KINDS = ("pixels", "forensic", "clip", "mobilenet", "lite0")
BACKBONE_OF = {"clip": "clip-vit-b16", "mobilenet": "mobilenet-v2", "lite0": "efficientnet-lite0"}


def _feature_preprocess(kind: str, backbone: str) -> PreprocessConfig:
    if kind == "pixels":
        return PreprocessConfig((32, 32))
    if kind == "forensic":
        from artcheck.lab.forensic import FORENSIC_SIZE
        return PreprocessConfig((FORENSIC_SIZE, FORENSIC_SIZE), crop="center")
    from artcheck.detect.backbones import get_spec
    return get_spec(backbone).preprocess


class ClassicalModel:
    """Features -> StandardScaler -> estimator, with the torch models' prediction interface."""

    family = "classical"
    num_outputs = 2
    classes = CLASSES

    def __init__(self, estimator: str, features: str, backbone: str | None = None):
        if estimator not in ESTIMATOR_NAMES or features not in FEATURE_KINDS:
            raise ValueError(f"classical models are ESTIMATOR-FEATURES with ESTIMATOR in {ESTIMATOR_NAMES} and "
                             f"FEATURES in {FEATURE_KINDS}; got {estimator}-{features}")
        self.estimator_name, self.feature_kind = estimator, features
        self.backbone_name = backbone or BACKBONE_OF.get(features, "")
        self.preprocess = _feature_preprocess(features, self.backbone_name)
        self.pipeline = None
        self._backbone = None

    # -- features ------------------------------------------------------------------------
    def featurize(self, batch_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) at ``preprocess.input_size`` -> float32 (N, D)."""
        if self.feature_kind == "pixels":
            return batch_uint8.reshape(len(batch_uint8), -1).astype(np.float32) / 255.0
        if self.feature_kind == "forensic":
            from artcheck.lab.forensic import forensic_features
            return np.stack([forensic_features(Image.fromarray(a)) for a in batch_uint8])
        return self._backbone_features(batch_uint8)

    def _backbone_features(self, batch_uint8: np.ndarray) -> np.ndarray:
        """Backbone embeddings, cached on disk by the sha256 of each preprocessed input array, so
        cross-validation cells and repeated runs on the same images cost one forward pass each."""
        import hashlib

        from artcheck.detect.backbones import embedding_columns, get_backbone
        from artcheck.detect.features import FeatureCache

        if self._backbone is None:
            self._backbone = get_backbone(self.backbone_name, fetch=True)
            self._cache = FeatureCache(self.backbone_name, "input-array")
        keys = [hashlib.sha256(a.tobytes()).hexdigest() for a in batch_uint8]
        found = [self._cache.get(k) for k in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        if todo:
            feats = self._backbone.features(batch_uint8[todo])
            feats = feats[:, embedding_columns(self._backbone.spec)]   # e.g. CLIP's projected embedding
            for i, f in zip(todo, feats):
                self._cache.put(keys[i], f)
                found[i] = f
        return np.stack(found).astype(np.float32)

    # -- the estimator contract ----------------------------------------------------------
    def set_classes(self, classes: Sequence[str]) -> None:
        if tuple(classes) != CLASSES:
            raise ValueError(f"classical models are two-class ({', '.join(CLASSES)}); "
                             f"got --classes {','.join(classes)}. Use a CNN for three classes.")

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ClassicalModel":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        with warnings.catch_warnings():   # scikit-learn 1.9 announces 1.10's defaults; our settings are explicit
            warnings.simplefilter("ignore", FutureWarning)
            self.pipeline = make_pipeline(StandardScaler(), estimators()[self.estimator_name][1]()).fit(X, y)
        return self

    def proba_from_features(self, X: np.ndarray) -> np.ndarray:
        if self.pipeline is None:
            raise ValueError(f"{self.registry_name} is not fitted yet: train it with 'artcheck train' or .fit(X, y)")
        return self.pipeline.predict_proba(X)[:, list(self.pipeline.classes_).index(1)]

    def predict_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        return self.proba_from_features(self.featurize(batch_uint8))

    def predict_proba(self, images: Sequence, batch_size: int = 64) -> np.ndarray:
        """Paths, bytes or PIL images -> (n, 2) P(human), P(ai)."""
        return predict_proba_images(self.predict_arrays, self.preprocess, images, batch_size)

    def eval(self) -> "ClassicalModel":
        return self

    # -- persistence ---------------------------------------------------------------------
    def save(self, run_dir: Path) -> None:
        import skops.io as sio

        sio.dump(self.pipeline, run_dir / SKOPS_FILE)

    def load_fitted(self, run_dir: Path) -> "ClassicalModel":
        import skops.io as sio

        path = run_dir / SKOPS_FILE
        unknown = sorted(set(sio.get_untrusted_types(file=path)) - TRUSTED_TYPES)
        if unknown:
            raise ValueError(f"{path}: holds types artcheck does not load ({', '.join(unknown)}); "
                             "only files written by 'artcheck train' are accepted")
        self.pipeline = sio.load(path, trusted=sorted(TRUSTED_TYPES & set(sio.get_untrusted_types(file=path))))
        return self


def _register(estimator: str, features: str) -> None:
    desc = {"pixels": "raw 32x32 pixels", "forensic": "28 forensic features (no weights)",
            "clip": "CLIP ViT-B/16 512-d embedding", "mobilenet": "ImageNet MobileNetV2 pooled 1280-d features",
            "lite0": "ImageNet EfficientNet-Lite0 pooled 1280-d features"}[features]

    def factory(**kwargs: Any) -> ClassicalModel:
        return ClassicalModel(estimator, features, **kwargs)

    register_model(f"{estimator}-{features}", family="classical",
                   summary=f"{estimator} on {desc}")(factory)


for _e in ESTIMATOR_NAMES:
    for _f in FEATURE_KINDS:
        _register(_e, _f)
