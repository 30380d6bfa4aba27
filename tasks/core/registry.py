"""The datasets the pipeline knows, as plain data: file names, payload digests and mirrors.

A dataset is four IDX payloads plus an ordered list of mirrors serving them gzip-compressed.
The digests are of the *decompressed* payloads: they are facts of the dataset, so any faithful
mirror passes whatever gzip produced its ``.gz``. Adding a dataset is adding an entry here;
no code branches on a dataset's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tasks.core.errors import ConfigError

ROLES: tuple[str, ...] = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class IdxFile:
    """One IDX payload: its name (mirrors serve ``name + ".gz"``), sha256 and size, decompressed."""

    name: str
    sha256: str
    size: int

    @property
    def remote_name(self) -> str:
        """The file name a mirror serves: the payload name plus ``.gz``."""
        return self.name + ".gz"


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its four IDX files keyed by role (see ``ROLES``), mirrors and class names."""

    name: str
    files: Mapping[str, IdxFile]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        assert tuple(sorted(self.files)) == tuple(sorted(ROLES)), self.files.keys()


MNIST = DatasetSpec(
    name="mnist",
    files=MappingProxyType({
        "train_images": IdxFile(
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
        "train_labels": IdxFile(
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
        "test_images": IdxFile(
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
        "test_labels": IdxFile(
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
    }),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        # Often answers 403/404 today; kept last as the historical source.
        "http://yann.lecun.com/exdb/mnist/",
    ),
    class_names=tuple(str(digit) for digit in range(10)),
)

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({MNIST.name: MNIST})


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset called ``name``; ConfigError naming the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(
            f"unknown dataset {name!r}: expected one of {known}; pass one of those names"
        ) from None
