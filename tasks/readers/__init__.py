"""One reader class per dataset family; each docstring is the on-disk tree it expects."""
from tasks.readers.base import Reader
from tasks.readers.cifar import Cifar100

__all__ = ["Reader", "Cifar100"]
