"""Datasets, splits, the papers' augmentations, and resumable loaders."""
from .bundle import DataBundle, DataOptions, load_data
from .decoding import BadImageError, DecodeStats, decode, load_rgb
from .folder import DataError, ImageList, imagenet_split, scan_class_folders
from .split import stratified_split

__all__ = [
    "BadImageError",
    "DataBundle",
    "DataError",
    "DataOptions",
    "DecodeStats",
    "ImageList",
    "decode",
    "imagenet_split",
    "load_data",
    "load_rgb",
    "scan_class_folders",
    "stratified_split",
]
