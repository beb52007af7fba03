"""One reader class per dataset family; each docstring is the on-disk tree it expects."""
from tasks.readers.base import FrameReader, Reader, file_sha256, listing_digest, load_rgb
from tasks.readers.cifar import Cifar100

__all__ = ["Cifar100", "FrameReader", "Reader", "file_sha256", "listing_digest", "load_rgb"]
