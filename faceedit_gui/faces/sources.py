"""The training face sets in `../shared/data` and their labels (see that folder's README).

- UTKFace: `AGE_GENDER_RACE_DATE.jpg.chip.jpg`; age 1-116, gender 0 male / 1 female,
  race 0-4. Names without the race field: race unknown. Held out: `utkface_test.txt`.
- CelebA 10k: `celeba10k/NNNNNN.jpg` with the 40 attributes of `list_attr_celeba.txt`
  (1 / -1 there, stored as 1 / 0 here). Held out: `celeba10k_test.txt`.

Missing labels are -1. Two labels are derived and the records say so: CelebA's gender
from its `Male` attribute, and UTKFace's `Male` attribute from its gender; every other
CelebA attribute is missing (-1) for UTKFace, and age and race are missing for CelebA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedit_gui.labels import CELEBA_ATTRIBUTES

DATASETS: tuple[str, ...] = ("utkface", "celeba")
_MALE = CELEBA_ATTRIBUTES.index("Male")
DERIVED_LABELS = {
    "celeba.gender": "1 - Male attribute (0 male, 1 female, as UTKFace)",
    "utkface.attrs.Male": "1 - gender",
}


@dataclass(frozen=True)
class Record:
    """One training image and its labels (-1 = missing)."""

    dataset: str  # "utkface" | "celeba"
    name: str  # file name inside the dataset folder
    path: Path
    split: str  # "train" | "test" (the README's held-out list)
    age: int = -1
    gender: int = -1  # 0 male, 1 female
    race: int = -1  # 0-4 (UTKFace's coding)
    attrs: tuple[int, ...] = (-1,) * 40  # CELEBA_ATTRIBUTES order: 1 yes, 0 no, -1 missing


def parse_utkface_name(name: str) -> tuple[int, int, int]:
    """(age, gender, race) from a UTKFace file name; -1 for a field that is absent or malformed."""
    fields = name.split(".")[0].split("_")

    def field(i: int, lo: int, hi: int) -> int:
        try:
            v = int(fields[i])
        except (IndexError, ValueError):
            return -1
        return v if lo <= v <= hi else -1

    age, gender = field(0, 0, 130), field(1, 0, 1)
    race = field(2, 0, 4) if len(fields) >= 4 else -1  # AGE_GENDER_DATE: no race field
    return age, gender, race


def held_out(path: Path) -> set[str]:
    """The file names a held-out list (`utkface_test.txt`, `celeba10k_test.txt`) names."""
    if not path.is_file():
        raise FileNotFoundError(f"held-out list missing: {path}")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def utkface_records(data_dir: Path) -> list[Record]:
    data_dir = Path(data_dir)
    test = held_out(data_dir / "utkface_test.txt")
    out = []
    for p in sorted((data_dir / "utkface").glob("*.jpg")):
        age, gender, race = parse_utkface_name(p.name)
        attrs = [-1] * 40
        if gender >= 0:
            attrs[_MALE] = 1 - gender
        out.append(Record("utkface", p.name, p, "test" if p.name in test else "train", age, gender, race, tuple(attrs)))
    return out


def read_celeba_attributes(path: Path) -> dict[str, tuple[int, ...]]:
    """`list_attr_celeba.txt` -> {file name: 40 values in 1 / 0}."""
    lines = Path(path).read_text().splitlines()
    header = lines[1].split()
    if tuple(header) != CELEBA_ATTRIBUTES:
        raise ValueError(f"{path}: unexpected attribute header {header[:3]}...")
    table = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != 41:
            continue
        table[parts[0]] = tuple(1 if int(v) > 0 else 0 for v in parts[1:])
    return table


def celeba_records(data_dir: Path) -> list[Record]:
    data_dir = Path(data_dir)
    test = held_out(data_dir / "celeba10k_test.txt")
    table = read_celeba_attributes(data_dir / "celeba10k" / "list_attr_celeba.txt")
    out = []
    for p in sorted((data_dir / "celeba10k").glob("*.jpg")):
        attrs = table.get(p.name)
        gender = -1 if attrs is None else 1 - attrs[_MALE]
        out.append(Record("celeba", p.name, p, "test" if p.name in test else "train", -1, gender, -1, attrs or (-1,) * 40))
    return out


def records(dataset: str, data_dir: Path) -> list[Record]:
    if dataset == "utkface":
        return utkface_records(data_dir)
    if dataset == "celeba":
        return celeba_records(data_dir)
    raise ValueError(f"unknown dataset {dataset!r} (choose from {DATASETS})")


def label_arrays(recs: list[Record]) -> dict[str, np.ndarray]:
    """Labels of records as arrays: age int16, gender int8, race int8, attrs int8 [N, 40], split int8 (0 train, 1 test)."""
    return {
        "age": np.array([r.age for r in recs], dtype=np.int16),
        "gender": np.array([r.gender for r in recs], dtype=np.int8),
        "race": np.array([r.race for r in recs], dtype=np.int8),
        "attrs": np.array([r.attrs for r in recs], dtype=np.int8).reshape(len(recs), 40),
        "split": np.array([r.split == "test" for r in recs], dtype=np.int8),
    }
