"""load_path: one file on its own, with the cell's dataqueue found beside it or in its session."""
from __future__ import annotations

import numpy as np
import pytest

import datakit
from datakit.demo import write_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("lp")
    return write_session(root, "STREHAB07", "ses-01", "widefield", duration=20, seed=11)


def test_processed_file_finds_its_sessions_dataqueue(session):
    stream = datakit.load_path("meso_mean", session.paths["meso_mean"])
    assert stream.tag == "meso_mean" and stream.meta["time_basis"] == "master"
    np.testing.assert_allclose(stream.t, session.truth.dhyana_t, atol=1e-6)
    dlc = datakit.load_path("pupil_dlc", session.paths["pupil_dlc"])
    assert dlc.meta["time_basis"] == "master"


def test_raw_file_beside_its_dataqueue(session):
    stream = datakit.load_path("treadmill", session.paths["dataqueue"])
    assert stream.meta["source_method"] == "dataqueue_encoder_payload"
    assert np.all(np.diff(stream.t) > 0)


def test_alone_it_falls_back_and_says_so(tmp_path, session):
    import shutil

    lone = tmp_path / session.paths["meso_mean"].name
    shutil.copy(session.paths["meso_mean"], lone)
    stream = datakit.load_path("meso_mean", lone)
    assert stream.meta["time_basis"] == "assumed_rate"


def test_errors(session, tmp_path):
    with pytest.raises(KeyError, match="Unknown source tag"):
        datakit.load_path("nope", session.paths["meso_mean"])
    with pytest.raises(FileNotFoundError):
        datakit.load_path("meso_mean", tmp_path / "missing.csv")
    bad = tmp_path / "x_meso-mean-trace.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="Slice"):
        datakit.load_path("meso_mean", bad)
