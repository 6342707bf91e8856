"""skclipens: adaptive ensembling of CLIP vision backbones for scikit-learn."""

from ._baselines import (
    BestSingleBackbone,
    CalibratedAverage,
    LogitAverage,
    MajorityVote,
    MixtureOfExperts,
    ProbabilityAverage,
    SuperLearner,
)
from ._clip_features import CLIPFeatures
from ._diagnostics import (
    backbone_accuracy,
    gain_over_best_backbone,
    oracle_accuracy,
    pairwise_disagreement,
)
from ._ensemble import AdaptiveBackboneEnsemble
from ._features import BackboneFeatures
from ._simulate import make_backbone_zoo
from .zoo import list_zoo

__version__ = "0.1.0.dev0"

__all__ = [
    "AdaptiveBackboneEnsemble",
    "BackboneFeatures",
    "BestSingleBackbone",
    "CLIPFeatures",
    "CalibratedAverage",
    "LogitAverage",
    "MajorityVote",
    "MixtureOfExperts",
    "ProbabilityAverage",
    "SuperLearner",
    "backbone_accuracy",
    "gain_over_best_backbone",
    "list_zoo",
    "make_backbone_zoo",
    "oracle_accuracy",
    "pairwise_disagreement",
]
