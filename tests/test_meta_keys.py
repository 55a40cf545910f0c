"""Every built-in source declares the meta keys it writes, and writes no other."""
from __future__ import annotations

import warnings

import pytest

import datakit
from datakit.demo import generate
from datakit.sources.base import STANDARD_META_KEYS
from datakit.sources.registry import BUILTIN_MODULES, registered_sources

BUILTIN = {tag: cls for tag, cls in registered_sources().items()
           if cls.__module__ in BUILTIN_MODULES}


def test_every_builtin_source_declares_its_meta_keys():
    assert len(BUILTIN) == 14
    for tag, cls in BUILTIN.items():
        keys = cls.meta_keys
        assert isinstance(keys, tuple) and keys, tag
        assert all(isinstance(k, str) and k for k in keys), tag
        assert len(set(keys)) == len(keys), f"{tag} declares a key twice"
        assert not set(keys) & set(STANDARD_META_KEYS), f"{tag} repeats a standard key"


def undeclared(tag: str, meta: dict) -> set:
    keys = set(meta) - set(BUILTIN[tag].meta_keys) - set(STANDARD_META_KEYS)
    if tag == "session_config":     # plus the file's variables, flattened in (as before)
        for group in ("subject_variables", "session_variables", "unmapped_variables"):
            keys -= set(meta.get(group) or {})
    return keys


def check_frame(df) -> set:
    seen = set()
    for (tag, feature), column in df.items():
        if feature != "meta" or tag not in BUILTIN:
            continue
        for meta in column.dropna():
            assert not undeclared(tag, meta), (tag, sorted(undeclared(tag, meta)))
            seen.add(tag)
    return seen


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # every file variant of the generator, on 2 subjects x 2 sessions of the 3 tasks
    return generate(tmp_path_factory.mktemp("meta") / "exp", subjects=2, sessions=2,
                    duration=10.0, seed=4)


def test_the_demo_writes_only_declared_meta_keys(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        df = datakit.Dataset.from_directory(demo.root, cache=False).materialize(strict=False, workers=1)
    assert check_frame(df) == set(BUILTIN)


def test_the_lab_recordings_write_only_declared_meta_keys(sample_experiment1, sample_experiment2):
    for root in (sample_experiment1, sample_experiment2):
        df = datakit.Dataset.from_directory(root, cache=False).materialize(workers=1)
        assert check_frame(df)


def test_an_undeclared_key_is_caught():
    meta = {"source_tag": "notes", "n_notes": 2, "brand_new_key": 1}
    assert undeclared("notes", meta) == {"brand_new_key"}
