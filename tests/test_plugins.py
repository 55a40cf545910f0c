"""Plugin sources: the register_source decorator and the datakit.sources entry-point group."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.sources.registry import dependency_order
from util import NOTES_TXT, session_dir, stem, tiny_dataqueue, write

ROOT = Path(__file__).resolve().parents[1]


class LickSource(datakit.DataSource):
    """A script-defined source: lick events aligned to the master clock."""

    tag = "licks_test"
    patterns = ("*_licks.csv",)
    requires = ("dataqueue",)
    description = "Lick sensor (test plugin)"

    def load(self, path, *, context=None):
        frame = pd.read_csv(path)
        t = frame["t"].to_numpy(dtype=float)
        basis = "own"
        if context is not None and context.dataqueue_frame is not None:
            t = t + context.experiment_window[0]
            basis = context.dataqueue_meta["time_basis"]
        return self.stream(t, frame[["lick"]], {"time_basis": basis, "source_file": str(path)})


@pytest.fixture
def registered():
    datakit.register_source(LickSource)
    yield LickSource
    datakit.unregister_source("licks_test")


def test_registered_source_is_discovered_validated_materialized(registered, tmp_path):
    s, d = stem(), session_dir()
    write(tmp_path, f"{d}/beh/{s}_dataqueue.csv", tiny_dataqueue())
    write(tmp_path, f"{d}/beh/{s}_licks.csv", "t,lick\n0.5,1\n1.5,1\n2.0,0\n")
    write(tmp_path, f"{session_dir('B02')}/beh/{stem('B02')}_licks.csv", "t,lick\n")  # header only
    ds = datakit.Dataset.from_directory(tmp_path)
    assert "licks_test" in ds.sources
    report = ds.validate(workers=1)
    statuses = dict(zip(zip(report.Subject, report.Source), report.status))
    assert statuses[("A01", "licks_test")] == "ok"
    df = ds.materialize(workers=2, strict=False)       # worker processes import this module
    row = df.loc[("A01", "ses-01", "task-widefield")]
    np.testing.assert_array_equal(row[("licks_test", "lick")], [1, 1, 0])
    np.testing.assert_array_equal(row[("licks_test", "time_elapsed_s")], [0.5, 1.5, 2.0])
    assert row[("licks_test", "meta")]["time_basis"] == "master"
    assert dependency_order(["licks_test"]) == ["dataqueue", "licks_test"]


def test_decorator_rejects_duplicates_and_bad_classes(registered):
    class Again(datakit.DataSource):
        tag = "licks_test"
        patterns = ("*_x.csv",)

    with pytest.raises(ValueError, match="already registered"):
        datakit.register_source(Again)
    datakit.register_source(LickSource)                  # the same class again is fine
    with pytest.raises(TypeError):
        datakit.register_source(type("NoTag", (datakit.DataSource,), {"patterns": ("*_y.csv",)}))
    with pytest.raises(TypeError):
        datakit.register_source(type("NoPatterns", (datakit.DataSource,), {"tag": "np"}))
    with pytest.raises(TypeError):
        datakit.register_source(object)
    with pytest.raises(KeyError):
        datakit.get_source_class("never_registered")


def test_dependency_cycle_is_reported():
    registry = {
        "a": type("A", (datakit.DataSource,), {"tag": "a", "patterns": ("*_a",), "requires": ("b",)}),
        "b": type("B", (datakit.DataSource,), {"tag": "b", "patterns": ("*_b",), "requires": ("a",)}),
    }
    with pytest.raises(ValueError, match="a -> b -> a"):
        dependency_order(["a"], registry)


PLUGIN = '''
import pandas as pd
import datakit

class WhiskSource(datakit.DataSource):
    tag = "whisk"
    patterns = ("*_whisk.csv",)
    description = "Whisker angle (third-party plugin)"

    def load(self, path, *, context=None):
        frame = pd.read_csv(path)
        return self.stream(frame["t"].to_numpy(float), frame[["angle"]], {"time_basis": "own"})

class ClashSource(datakit.DataSource):
    tag = "notes"
    patterns = ("*_other_notes.txt",)
'''

PROBE = '''
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import datakit
    tags = datakit.available_tags()
ds = datakit.Dataset.from_directory(sys.argv[1])
report = ds.validate(workers=2)
df = ds.materialize(workers=2)
print(json.dumps({
    "tags": tags,
    "warnings": [str(w.message) for w in caught],
    "notes_class": datakit.get_source_class("notes").__module__,
    "status": report.set_index("Source")["status"].to_dict(),
    "angle": df[("whisk", "angle")].iloc[0].tolist(),
}))
'''


def test_entry_point_plugin_installed_as_a_package(tmp_path):
    site = tmp_path / "site"
    (site / "acme_whisk.py").parent.mkdir(parents=True)
    (site / "acme_whisk.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "acme_whisk-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-whisk\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[datakit.sources]\n"
        "whisk = acme_whisk:WhiskSource\n"
        "broken = acme_whisk_missing:Nothing\n"
        "clash = acme_whisk:ClashSource\n")
    data = tmp_path / "exp"
    write(data, f"{session_dir()}/beh/{stem()}_whisk.csv", "t,angle\n0.0,10\n0.1,12\n")
    write(data, f"{session_dir()}/{stem()}_notes.txt", NOTES_TXT)
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(data)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "whisk" in result["tags"]
    assert result["notes_class"] == "datakit.sources.session"      # built-in kept
    joined = " | ".join(result["warnings"])
    assert "broken" in joined and "failed to load" in joined          # broken plugin: warning
    assert "already registered" in joined                             # duplicate tag: warning
    assert result["status"] == {"notes": "ok", "whisk": "ok"}
    assert result["angle"] == [10, 12]
