"""Data sets: a registry of named sets, readers for user files, downloads, cache, splits."""

from matforge.data.registry import DATASETS, DatasetSpec, dataset_info, list_datasets, load_dataset

__all__ = ["DATASETS", "DatasetSpec", "dataset_info", "list_datasets", "load_dataset"]
