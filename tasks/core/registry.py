"""The datasets the pipeline knows, as plain data: file names, payload digests and mirrors.

A dataset is four IDX payloads plus an ordered list of mirrors serving them gzip-compressed.
A mirror is an http(s):// URL or a local folder (a distribution's packaged copy); a default
folder that is absent on this machine is skipped. The digests are of the *decompressed*
payloads: they are facts of the dataset, so any faithful mirror passes whatever gzip produced
its ``.gz``. Adding a dataset is adding an entry here; no code branches on a dataset's name.
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
    """A dataset: its four IDX files keyed by role (see ``ROLES``), mirrors and class names.

    ``mirror_env`` names the environment variable holding a user's mirror for *this* dataset
    only, so a mirror of one dataset is never offered the files of another.
    """

    name: str
    files: Mapping[str, IdxFile]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    mirror_env: str | None = None

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
    mirror_env="MNIST_MIRROR",
)

# Zalando's drop-in successor: same file names, IDX format and shapes; ten clothing classes.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    files=MappingProxyType({
        "train_images": IdxFile(
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47_040_016),
        "train_labels": IdxFile(
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60_008),
        "test_images": IdxFile(
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016),
        "test_labels": IdxFile(
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_008),
    }),
    mirrors=(
        # Debian's dataset-fashion-mnist package: works with no internet at all.
        "/usr/share/datasets/fashion-mnist/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    mirror_env="FASHION_MNIST_MIRROR",
)

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(
    {spec.name: spec for spec in (MNIST, FASHION_MNIST)})


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset called ``name``; ConfigError naming the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(
            f"unknown dataset {name!r}: expected one of {known}; pass one of those names"
        ) from None
