"""Discovery matches every listed name at once (``PatternIndex.match_names`` and
``naming.identities``); these properties hold it to the one-name-at-a-time rules
(``tags_for``, ``parse_tokens``) that define what a file is and whose it is."""
from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reliability_support import STATS
from datakit.naming import PatternIndex, _identity, identities, parse_tokens
from datakit.sources.registry import registered_sources

pytestmark = pytest.mark.timeout(120)
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class _Plugin:
    patterns: tuple = ()


def _plugin(*patterns):
    return type("Plugin", (_Plugin,), {"patterns": patterns})


# the lab's sources, and plugin patterns of every other shape a registry can hold: an
# extension with "_" in it (by regex and as a literal tail), a literal tail without "_",
# a "?" pattern tried on every name, tails holding a token or starting inside a label, a
# pattern spanning folders with a literal tail
REGISTRY = {**registered_sources(),
            "tarball": _plugin("*_v?.tar_gz", "*.tar_gz", "*_raw.bin"),
            "plain": _plugin("*.dat", "report?.txt"),
            "tokened": _plugin("*_task-2_events.tsv", "*x_cut.csv"),
            "deep": _plugin("**/beh/*_licks.csv")}
PATTERNS = PatternIndex(REGISTRY)

ALNUM = string.ascii_letters + string.digits
labels = st.text(ALNUM, min_size=1, max_size=6)
TAILS = ["_notes.txt", "_dataqueue.csv", "_treadmill.csv", "_treadmill_data.csv", "_data.csv",
         "_meso-mean-trace.csv", "_meso-collapse_first-trace.csv", "_first-trace.csv",
         "_mesoscope.ome.tiff_frame_metadata.json", "_pupil.mp4_frame_metadata.json", "_metadata.json",
         "_pupilDLC_resnet50_110.h5", "_pupil.omeDLC_x_full.pickle", "_mesoscope.ome_traces.csv",
         ".tar_gz", "_x.tar_gz", "_v1.tar_gz", "_raw.bin", ".dat", "_task-2_events.tsv", "x_cut.csv",
         "_licks.csv", "_task-b_notes.txt",
         "_psychopy.csv", "_wheel.csv", "_configuration.csv", "_timestamps.csv", "", "_", "_other.csv"]
WHOLE = ["F.npy", "Fneu.npy", "dataqueue.csv", "notes.txt", "_notes.txt", "report1.txt", "reportAB.txt",
         ".hidden_notes.txt", "raw.bin", "x", "_", "a_b", "task-q_notes.txt"]


@st.composite
def stems(draw):
    """The start of a name: tokens in any case and order, glued or not, or none."""
    parts = []
    for key in draw(st.lists(st.sampled_from(["sub", "ses", "task", "SuB", "TASK", "multitask"]), max_size=4)):
        parts.append(f"{key}-{draw(labels)}")
    stamp = draw(st.sampled_from(["", "20250101_120000_", "x", ".", "._", "a.b_"]))
    return stamp + draw(st.sampled_from(["_", "-", ".", "", "__"])).join(parts)


@st.composite
def names(draw):
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(WHOLE))
    return draw(stems()) + draw(st.sampled_from(TAILS))


FOLDERS = [((), {}), (("sub-A",), {"sub": "A"}), (("sub-A", "ses-1"), {"sub": "A", "ses": "1"}),
           (("sub-A", "ses-1", "beh"), {"sub": "A", "ses": "1"}),
           (("x_suite2p", "plane0"), {}), (("sub-B", "ses-2", "y_suite2p", "plane0"), {"sub": "B", "ses": "2"}),
           (("task-t",), {"task": "t"}), (("sub-A", "ses-1", "task-t"), {"sub": "A", "ses": "1", "task": "t"})]


@SETTINGS
@given(batch=st.lists(st.tuples(names(), st.integers(0, len(FOLDERS) - 1)), min_size=1, max_size=40))
@example(batch=[("sub-A_ses-1_task-abx_cut.csv", 0)])             # a tail starting inside a label
@example(batch=[("sub-A_ses-1_task-q_task-2_events.tsv", 0),        # a token in the tail
                ("ses-1_task-2_events.tsv", 2)])
@example(batch=[("20250101_120000_sub-A_ses-1_task-t_notes.txt", 2),  # one cell's recordings, in a
                ("20250202_120000_sub-A_ses-1_task-t_notes.txt", 0),   # folder that gives tokens
                ("20250202_120000_sub-A_ses-1_task-t_wheel.csv", 2)])  # and in one that does not
@example(batch=[("dataqueue.csv", 2), ("._x_notes.txt", 2), ("a.b_v1.tar_gz", 0), ("F.npy", 4)])
def test_matching_every_name_at_once_equals_one_name_at_a_time(batch):
    STATS["properties"]["bulk"] += 1
    listed = [name for name, _ in batch]
    folder_of = np.array([f for _, f in batch], dtype=np.int64)
    rel_parts = [parts for parts, _ in FOLDERS]
    hits = PATTERNS.match_names(listed, folder_of, rel_parts)
    found = [sorted((t, p) for i, t, p in zip(hits.name, hits.tag, hits.priority) if i == k)
             for k in range(len(listed))]
    assert found == [sorted(PATTERNS.tags_for(n, rel_parts[f])) for n, f in zip(listed, folder_of)]

    matched = np.unique(hits.name)
    if not len(matched):
        return
    tokens = [t for _, t in FOLDERS]
    ident = identities(np.array(listed, dtype=object)[matched], hits.strip[matched], folder_of[matched], tokens)
    for at, i in enumerate(matched.tolist()):
        name = listed[i]
        assert ident.hidden[at] == name.startswith(".")
        expected = _identity(parse_tokens(name, tokens[folder_of[i]]))
        assert (ident.subject[at], ident.session[at], ident.task[at]) == expected, name
        assert ident.placed[at] == (expected[0] is not None and expected[1] is not None)
