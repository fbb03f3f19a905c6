"""notecheck's scoring pipeline: ``Pipeline.load().pipe(notes)`` -> verdicts.

The public surface is exactly ``__all__`` (checked by a test); everything else is internal.
"""

from classifier.errors import (
    FormatError,
    InputError,
    MatchTimeout,
    ModelError,
    NotecheckError,
    NotFittedError,
    PolicyError,
)
from classifier.model import Classifier, default_model_dir
from classifier.notes import note_from_dict
from classifier.pipeline import Pipeline
from classifier.registry import load_model
from classifier.rules import Policy
from classifier.signals import Lexicon, extract_signals
from classifier.types import LABELS, Author, Comment, Note, ProductTag, Reason, Signal, Verdict

__all__ = [
    "LABELS",
    "Author",
    "Classifier",
    "Comment",
    "FormatError",
    "InputError",
    "Lexicon",
    "MatchTimeout",
    "ModelError",
    "NotFittedError",
    "Note",
    "NotecheckError",
    "Pipeline",
    "Policy",
    "PolicyError",
    "ProductTag",
    "Reason",
    "Signal",
    "Verdict",
    "default_model_dir",
    "extract_signals",
    "load_model",
    "note_from_dict",
]
