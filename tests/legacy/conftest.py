"""Shared fixtures of the compatibility suite: one small complete demo experiment."""
from __future__ import annotations

import warnings

import pytest

import datakit
from datakit.demo import write_session

SUBJECT = "STREHAB07"


@pytest.fixture(scope="session")
def legacy_root(tmp_path_factory):
    """One subject, one session, the three tasks, every source, no variant, nothing broken."""
    root = tmp_path_factory.mktemp("legacy") / "exp"
    for task in ("widefield", "gratings", "movies"):
        write_session(root, SUBJECT, 1, task, duration=20, seed=2)
    return root


@pytest.fixture(scope="session")
def legacy_ds(legacy_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(legacy_root)


@pytest.fixture(scope="session")
def legacy_df(legacy_ds):
    return legacy_ds.materialize(workers=1)
