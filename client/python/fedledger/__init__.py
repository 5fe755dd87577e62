"""Train a fedledger member outside the node, through the node's trainer API."""

from .client import Trainer, TrainerError, dp_spend, join, split
from .flower import FlowerAdapter
from .opacus import OpacusSpend

__all__ = ["Trainer", "TrainerError", "dp_spend", "join", "split", "FlowerAdapter", "OpacusSpend"]
__version__ = "0.1.0"
