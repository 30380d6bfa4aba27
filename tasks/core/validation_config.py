"""The validate stage's thresholds: one pydantic model, a section of the flow's config, so
each is a ``mnist-flow run`` option, a field of the dashboard's form and part of the stage's
cache key. No numpy here: importing the flow must not load it (tests/test_imports.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# A class is judged as a whole only when the batch holds at least this many of its images.
MIN_CLASS_IMAGES = 10


class ValidationConfig(BaseModel):
    """Thresholds of the validate stage, measured on MNIST (docs/validation.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True,
                              title="validation of new images (docs/validation.md)")
    label_confidence: float = Field(
        0.8, gt=0, le=2, description="Refuse an image whose model-predicted class differs from "
        "its label with a probability above this times that class's mean confidence on the "
        "base data (measured: 0.8 refused 93.7 percent of shuffled labels and 1.1 percent of "
        "right ones; docs/validation.md).")
    class_disagreement: float = Field(
        0.5, gt=0, le=1, description=f"Refuse a whole class of the batch when more than this "
        f"share of its images (at least {MIN_CLASS_IMAGES}) is refused on its label.")
    duplicate_correlation: float = Field(
        0.995, gt=0, le=1, description="Pearson correlation of two centred 28x28 images at or "
        "above which they are the same picture (leakage of a test image, a repeat).")
    drift_threshold: float = Field(
        0.4, gt=0, le=100, description="Drift score above which the batch is reported as "
        "unlike the training set (measured: ordinary digits 0.19, thick pen 0.73, rotated 1.46, "
        "inverted 6.5).")
