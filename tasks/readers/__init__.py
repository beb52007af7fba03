"""One reader class per dataset; each docstring is the on-disk tree it expects."""

from tasks.readers.base import (
    IGNORE,
    DenseFrameReader,
    DenseReader,
    FrameReader,
    Reader,
    file_sha256,
    labels_by_name,
    listing_digest,
    load_map,
    load_rgb,
)
from tasks.readers.caltech import Caltech101
from tasks.readers.cifar import Cifar100
from tasks.readers.cityscapes import CityscapesSegmentation
from tasks.readers.clevr import ClevrCount
from tasks.readers.dtd import DTD
from tasks.readers.egohands import EgoHandsSegmentation
from tasks.readers.eurosat import EuroSAT
from tasks.readers.imagenet import ImageNet, ImageNetV2
from tasks.readers.kinetics import KineticsFrames
from tasks.readers.kitti_flow import KittiFlow2015
from tasks.readers.nuscenes import NuScenesEgomotion
from tasks.readers.nyu import NyuDepth, NyuWalkable
from tasks.readers.pets import OxfordPets, OxfordPetsSegmentation
from tasks.readers.sun397 import SUN397
from tasks.readers.taskonomy import TaskonomyDepth
from tasks.readers.thor import ThorEgomotion, ThorNumSteps
from tasks.readers.thor_depth import ThorDepth, ThorDepthNormalized

__all__ = [
    "DTD",
    "IGNORE",
    "SUN397",
    "Caltech101",
    "Cifar100",
    "CityscapesSegmentation",
    "ClevrCount",
    "DenseFrameReader",
    "DenseReader",
    "EgoHandsSegmentation",
    "EuroSAT",
    "FrameReader",
    "ImageNet",
    "ImageNetV2",
    "KineticsFrames",
    "KittiFlow2015",
    "NuScenesEgomotion",
    "NyuDepth",
    "NyuWalkable",
    "OxfordPets",
    "OxfordPetsSegmentation",
    "Reader",
    "TaskonomyDepth",
    "ThorDepth",
    "ThorDepthNormalized",
    "ThorEgomotion",
    "ThorNumSteps",
    "file_sha256",
    "labels_by_name",
    "listing_digest",
    "load_map",
    "load_rgb",
]
