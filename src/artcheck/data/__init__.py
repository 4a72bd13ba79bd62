"""Datasets: manifests, layout readers, splits, subsets and synthetic fixtures."""

from artcheck.data.manifest import MANIFEST_COLUMNS, Manifest, Record
from artcheck.data.readers import LAYOUTS, read_dataset
from artcheck.data.splits import leave_one_out, split_manifest, subset

__all__ = [
    "MANIFEST_COLUMNS", "Manifest", "Record", "LAYOUTS", "read_dataset",
    "split_manifest", "leave_one_out", "subset",
]
