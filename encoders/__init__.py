"""Frozen ResNet-50 encoders: checkpoint reading, block geometry, trunk, preprocessing, registry."""
from encoders.blocks import BLOCK_NAMES, BLOCKS, Block, block_shape, get_block
from encoders.checkpoints import FORMATS, TOP, Candidate, CheckpointReport, load_backbone, read_checkpoint
from encoders.errors import (
    AmbiguousCheckpoint,
    CheckpointMismatch,
    CheckpointNotFound,
    CheckpointUnreadable,
    EncoderError,
    NonFiniteWeights,
    UnknownEncoder,
    UnsafeCheckpoint,
)
from encoders.fingerprint import fingerprint
from encoders.preprocess import Preprocessing
from encoders.registry import EncoderSpec, load_encoder
from encoders.study import STUDY, StudyEncoder, study_encoder
from encoders.trunk import ResNet50Trunk

__all__ = [
    "AmbiguousCheckpoint",
    "BLOCKS",
    "BLOCK_NAMES",
    "Block",
    "Candidate",
    "CheckpointMismatch",
    "CheckpointNotFound",
    "CheckpointReport",
    "CheckpointUnreadable",
    "EncoderError",
    "EncoderSpec",
    "FORMATS",
    "NonFiniteWeights",
    "Preprocessing",
    "STUDY",
    "StudyEncoder",
    "ResNet50Trunk",
    "TOP",
    "UnknownEncoder",
    "UnsafeCheckpoint",
    "block_shape",
    "fingerprint",
    "get_block",
    "load_backbone",
    "load_encoder",
    "read_checkpoint",
    "study_encoder",
]
