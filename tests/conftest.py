from __future__ import annotations

import pytest

from artcheck.data.synthetic import make_dataset


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A learnable synthetic dataset at 32 px (manifest CSV layout), shared by the session."""
    root = tmp_path_factory.mktemp("synth")
    make_dataset(root, n_per_class=120, size=32, seed=1, layout="manifest")
    return root
