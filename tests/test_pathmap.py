"""The path map (datakit.pathmap): where Dask workers find the files; no Dask needed here."""
from __future__ import annotations

import warnings

import pytest

import datakit
from datakit.pathmap import PathMap, PathMapError, parse, parse_rule


def test_every_spelling_of_a_path_map_gives_the_same_rules():
    rules = (("Z:/lab", "/mnt/lab"), ("//nas/raw", "/mnt/raw"))
    assert parse(["Z:/lab=/mnt/lab", "//nas/raw=/mnt/raw"]) == rules
    assert parse({"Z:/lab": "/mnt/lab", "//nas/raw": "/mnt/raw"}) == rules
    assert parse(list(rules)) == rules
    assert parse("Z:/lab=/mnt/lab") == rules[:1]
    assert parse(" Z:/lab = /mnt/lab ") == rules[:1]
    assert parse(None) == parse([]) == ()
    settings = datakit.Settings(path_map="Z:/lab=/mnt/lab")
    assert settings.path_map == rules[:1]
    assert settings.replace(path_map={"Z:/lab": "/mnt/lab"}) == settings   # hashable, equal
    before = datakit.get_settings()
    try:                                   # the session-wide default, as for other settings
        datakit.configure(path_map=["Z:/lab=/mnt/lab"])
        assert datakit.get_settings().path_map == rules[:1]
    finally:
        datakit.configure(before)
    assert datakit.get_settings().path_map == ()


@pytest.mark.parametrize("bad, fragment", [
    ("Z:/lab", "has no '='"),
    ("=/mnt/lab", "FROM (before '=') is empty"),
    ("Z:/lab=", "TO (after '=') is empty"),
    ("lab=/mnt/lab", "'lab' is not an absolute path"),
    ("Z:/lab=mnt/lab", "TO 'mnt/lab' is not an absolute path"),
    (["Z:/lab=/mnt/a", "z:\\lab=/mnt/b"], "maps 'z:\\\\lab' twice"),
    (3, "got int"),
])
def test_a_malformed_path_map_says_what_is_wrong(bad, fragment):
    with pytest.raises(PathMapError) as caught:
        parse(bad)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ValueError):
        datakit.Settings(path_map=bad)


def test_paths_are_mapped_by_whole_components_longest_rule_first():
    pm = PathMap(["Z:/lab=/mnt/lab", "Z:/lab/raw=/mnt/raw", "/home/me/exp=/scratch/exp"])
    # Windows spellings: either separator, any case, as Windows itself
    assert pm.apply("Z:\\lab\\data\\sub-1\\x.csv") == "/mnt/lab/data/sub-1/x.csv"
    assert pm.apply("z:/LAB/data/x.csv") == "/mnt/lab/data/x.csv"
    assert pm.apply("Z:/lab/raw/x.csv") == "/mnt/raw/x.csv"          # the longer rule wins
    assert pm.apply("Z:/lab") == "/mnt/lab"
    assert pm.apply("Z:/lab2/x.csv") is None                          # not a component match
    # POSIX spellings are case-sensitive
    assert pm.apply("/home/me/exp/data/x.csv") == "/scratch/exp/data/x.csv"
    assert pm.apply("/home/me/EXP/data/x.csv") is None
    assert pm.apply("/elsewhere/x.csv") is None
    # to Windows workers: the rest of the path takes TO's separator
    to_windows = PathMap({"/mnt/lab": "\\\\nas\\lab", "/data/": "D:/data"})
    assert to_windows.apply("/mnt/lab/sub-1/x.csv") == "\\\\nas\\lab\\sub-1\\x.csv"
    assert to_windows.apply("/data/sub-1/x.csv") == "D:/data/sub-1/x.csv"
    assert PathMap("/=/mnt/root").apply("/a/b.csv") == "/mnt/root/a/b.csv"
    assert parse_rule(("Z:/", "/mnt/z")) == ("Z:/", "/mnt/z")


def test_the_path_map_is_not_part_of_a_validation_fingerprint(tmp_path):
    """A validation on a cluster (with a path map) and one here share cached outcomes."""
    from datakit.demo import generate

    root = generate(tmp_path / "exp", subjects=1, sessions=1, duration=20.0, seed=2).root
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(root).include(source=["dataqueue", "notes"])
    first = ds.validate(workers=1)
    assert not first["cached"].any()
    again = ds.with_settings(path_map=f"{root}=/mnt/elsewhere").validate(workers=1)
    loaded = again["status"] == "ok"
    assert loaded.sum() >= 4 and again[loaded]["cached"].all()
    other = ds.with_settings(master_camera_rate_hz=49.0).validate(workers=1)
    assert not other["cached"].any()                   # a setting that matters does re-load


def test_with_settings_keeps_the_selection_and_checks_its_argument(tmp_path):
    from datakit.demo import generate

    root = generate(tmp_path / "exp", subjects=1, sessions=1, duration=20.0, seed=2).root
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(root, cache=False).include(source="notes").head(2)
    mapped = ds.with_settings(path_map="Z:/lab=/mnt/lab")
    assert mapped.settings.path_map == (("Z:/lab", "/mnt/lab"),)
    assert ds.settings.path_map == ()
    assert len(mapped) == 2 and mapped.sources == ("notes",)
    assert mapped.with_settings(datakit.Settings()).settings == datakit.Settings()
    with pytest.raises(TypeError):
        ds.with_settings({"path_map": "Z:/lab=/mnt/lab"})
