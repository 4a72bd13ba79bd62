"""A linear probe on frozen backbone features (UnivFD's recipe), with Platt calibration.

Inference is NumPy only (the shipped detector needs no scikit-learn); ``fit`` uses
scikit-learn's LogisticRegressionCV, choosing the regularisation by grouped
cross-validation so that no source is in both a fold's train and test part.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artcheck.labels import CLASSES


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


@dataclass
class LinearProbe:
    """Standardise -> w.x + b -> Platt ``sigmoid(a * logit + c)``. Column order: CLASSES."""

    backbone: str = ""
    C: float = 1.0
    coef: np.ndarray | None = None
    intercept: float = 0.0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    platt: tuple[float, float] = (1.0, 0.0)
    meta: dict = field(default_factory=dict)

    def _check_fitted(self) -> None:
        if self.coef is None:
            raise RuntimeError("this LinearProbe is not fitted yet; call fit(X, y) or load one with LinearProbe.load")

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            Cs: tuple[float, ...] = (0.0003, 0.001, 0.003, 0.01, 0.03), sample_weight: np.ndarray | None = None
            ) -> "LinearProbe":
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        X, y = np.asarray(X, np.float64), np.asarray(y, int)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"expected X of shape (n, d) and y of length n; got X {X.shape} and y {y.shape}")
        if set(np.unique(y)) != {0, 1}:
            raise ValueError(f"y must hold both classes 0 ({CLASSES[0]}) and 1 ({CLASSES[1]}); got {np.unique(y)}")
        self.mean, self.scale = X.mean(0), X.std(0) + 1e-6
        Z = (X - self.mean) / self.scale
        n_groups = len(np.unique(groups)) if groups is not None else 0
        if n_groups >= 3:
            cv = list(GroupKFold(n_splits=min(3, n_groups)).split(Z, y, groups))
            cv = [(tr, te) for tr, te in cv if len(np.unique(y[tr])) == 2] or 3
        else:
            cv = StratifiedKFold(3, shuffle=True, random_state=0)
        if len(Cs) > 1:
            with warnings.catch_warnings():   # scikit-learn 1.9's notices about its own future defaults
                warnings.simplefilter("ignore", FutureWarning)
                search = LogisticRegressionCV(Cs=list(Cs), cv=cv, scoring="neg_log_loss", max_iter=5000,
                                              class_weight="balanced")
                search.fit(Z, y, sample_weight=sample_weight)
            self.C = float(np.ravel(search.C_)[0])
        else:
            self.C = float(Cs[0])
        clf = LogisticRegression(C=self.C, max_iter=5000, class_weight="balanced")
        clf.fit(Z, y, sample_weight=sample_weight)
        self.coef, self.intercept = clf.coef_[0].astype(np.float64), float(clf.intercept_[0])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return ((np.asarray(X, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def calibrate(self, logits: np.ndarray, y: np.ndarray) -> "LinearProbe":
        """Fit Platt scaling on held-out logits (never on the training fold's own scores).

        Class-balanced: the probabilities are calibrated for equal priors, so P(ai) = 0.5
        means even odds whatever the share of AI images in the calibration data.
        """
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000, class_weight="balanced")
        lr.fit(np.asarray(logits)[:, None], np.asarray(y, int))
        self.platt = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        return self

    def proba_ai(self, X: np.ndarray) -> np.ndarray:
        a, c = self.platt
        return _sigmoid(a * self.decision_function(X) + c)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.proba_ai(X)
        return np.stack([1 - p, p], axis=1)

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "linear-probe", "backbone": self.backbone, "C": self.C, "classes": list(CLASSES),
                "coef": self.coef.tolist(), "intercept": self.intercept, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "platt": list(self.platt), "meta": self.meta}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "LinearProbe":
        d = json.loads(Path(path).read_text())
        if d.get("kind") != "linear-probe" or d.get("classes") != list(CLASSES):
            raise ValueError(f"{path}: not a linear-probe head with classes {list(CLASSES)}")
        return cls(backbone=d["backbone"], C=d["C"], coef=np.array(d["coef"]), intercept=d["intercept"],
                   mean=np.array(d["mean"]), scale=np.array(d["scale"]), platt=tuple(d["platt"]),
                   meta=d.get("meta", {}))
