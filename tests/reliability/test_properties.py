"""Property-based tests: identity parsing from names, and the include/exclude algebra."""
from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datakit
from reliability_support import STATS
from datakit.naming import DEFAULT_TASK, identity_from_path, parse_tokens
from datakit.sources.registry import available_tags

pytestmark = pytest.mark.timeout(120)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

ALNUM = string.ascii_letters + string.digits
labels = st.text(ALNUM, min_size=1, max_size=8)
# separators a label cannot run into: ASCII punctuation, spaces, non-ASCII non-alnum
separators = st.text(st.sampled_from("_-. /+=,()[]~—·€✓ \u200b"), min_size=1, max_size=3)
# text that holds no token: no '-' at all
filler = st.text(st.characters(blacklist_characters="-/\x00", blacklist_categories=("Cs",)),
                 max_size=10)
keys = st.sampled_from(["sub", "ses", "task"])


def counted(name):
    STATS["properties"][name] += 1


def casing(draw, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c for c, f in zip(word, flips))


@st.composite
def token_names(draw):
    """A file path built from labels, with odd separators and random key case."""
    sub, ses, task = draw(labels), draw(labels), draw(labels)
    parts = [f"{casing(draw, 'sub')}-{sub}", f"{casing(draw, 'ses')}-{ses}",
             f"{casing(draw, 'task')}-{task}"]
    order = draw(st.permutations(range(3)))
    seps = [draw(separators) for _ in range(4)]
    prefix = draw(filler)
    text = prefix + seps[0] + "".join(parts[i] + seps[j + 1] for j, i in enumerate(order))
    text += draw(filler) + "_notes.txt"
    return text, (sub, f"ses-{ses}", f"task-{task}")


@SETTINGS
@given(token_names())
def test_round_trip_of_names_built_from_labels(case):
    counted("identity")
    text, expected = case
    assert identity_from_path(text) == expected


@SETTINGS
@given(glue=st.characters(blacklist_categories=("Cs",)).filter(str.isalnum), key=keys,
       label=labels, before=filler)
def test_a_token_glued_to_a_preceding_letter_or_digit_is_never_a_token(glue, key, label, before):
    counted("identity")
    assert key not in parse_tokens(f"{before.replace(key, '')}{glue}{key}-{label}")


@SETTINGS
@given(key=keys, first=labels, second=labels, sep=separators)
def test_the_leftmost_occurrence_wins(key, first, second, sep):
    counted("identity")
    found = parse_tokens(f"{key}-{first}{sep}{key}-{second}")
    assert found[key] == first


@SETTINGS
@given(key=keys, label=labels, stop=st.characters(blacklist_categories=("Cs",)).filter(
    lambda c: not (c.isascii() and c.isalnum())), rest=filler)
def test_a_label_is_the_maximal_ascii_alnum_run(key, label, stop, rest):
    counted("identity")
    assert parse_tokens(f"{key}-{label}{stop}{rest}")[key] == label


@SETTINGS
@given(folders=st.lists(st.tuples(filler, st.one_of(st.none(), st.tuples(keys, labels)), separators),
                        max_size=4), name=token_names())
def test_folder_by_folder_parsing_equals_whole_path_parsing(folders, name):
    """Discovery parses each folder once and the file name last; same result as the whole path."""
    counted("identity")
    parts = [f"{a}{sep}{k}-{lab}" if tok else a for a, tok, sep in folders
             for k, lab in [tok or ("", "")]]
    parts = [p for p in parts if p and "/" not in p] + [name[0].replace("/", "_")]
    tokens: dict = {}
    for part in parts:
        tokens = parse_tokens(part, tokens)
    assert tokens == parse_tokens("/".join(parts))


@SETTINGS
@given(text=st.text(max_size=40))
def test_any_text_parses_without_error_and_gives_ascii_labels(text):
    counted("identity")
    subject, session, task = identity_from_path(text)
    for value in (subject, session, task):
        assert value is None or (value.isascii() and value.replace("-", "").isalnum())
    assert task == DEFAULT_TASK or task.startswith("task-")


# ---------------------------------------------------------------------------------
# include / exclude algebra on a Dataset built from a generated inventory

SUBJECTS, SESSIONS, TASKS = ["A", "B", "C", "D"], ["ses-01", "ses-02", "ses-03"], ["task-x", "task-y"]
TAGS = available_tags()


@st.composite
def datasets(draw):
    keys_ = draw(st.lists(st.tuples(st.sampled_from(SUBJECTS), st.sampled_from(SESSIONS),
                                    st.sampled_from(TASKS)), min_size=0, max_size=12, unique=True))
    tags = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=6, unique=True))
    present = draw(st.lists(st.lists(st.booleans(), min_size=len(tags), max_size=len(tags)),
                            min_size=len(keys_), max_size=len(keys_)))
    index = pd.MultiIndex.from_tuples(keys_, names=["Subject", "Session", "Task"]) if keys_ \
        else pd.MultiIndex.from_arrays([[], [], []], names=["Subject", "Session", "Task"])
    values = np.array([[f"/x/{k[0]}/{k[1]}/{k[2]}/{t}" if p else np.nan
                        for t, p in zip(tags, row)] for k, row in zip(keys_, present)],
                      dtype=object).reshape(len(keys_), len(tags))
    inventory = pd.DataFrame(values, index=index, columns=tags, dtype=object).sort_index()
    return datakit.Dataset(inventory)


@st.composite
def row_filters(draw):
    out = {}
    for name, pool in (("subject", SUBJECTS + ["Z"]), ("session", SESSIONS), ("task", TASKS)):
        if draw(st.booleans()):
            out[name] = draw(st.one_of(st.sampled_from(pool),
                                       st.lists(st.sampled_from(pool), max_size=3)))
    return out


source_filters = st.lists(st.sampled_from(TAGS), min_size=1, max_size=4)


def snapshot(ds):
    return ds.inventory.copy(), ds.sources


def same(a, b):
    pd.testing.assert_frame_equal(a.inventory, b.inventory)
    assert a.sources == b.sources


def same_cells(a, b) -> bool:
    return len(a) == len(b) and all((pd.isna(x) and pd.isna(y)) or x == y for x, y in zip(a, b))


def matches(ds, flt) -> np.ndarray:
    inv = ds.inventory
    mask = np.ones(len(inv), dtype=bool)
    for level, name in enumerate(("subject", "session", "task")):
        if name in flt:
            wanted = [flt[name]] if isinstance(flt[name], str) else flt[name]
            mask &= inv.index.get_level_values(level).isin(wanted)
    return mask


@SETTINGS
@given(ds=datasets(), flt=row_filters())
def test_include_then_exclude_of_the_same_rows_leaves_nothing(ds, flt):
    counted("algebra")
    if not flt:
        return
    assert len(ds.include(**flt).exclude(**flt)) == 0
    assert len(ds.exclude(**flt).include(**flt)) == 0
    assert len(ds.include(**flt)) + len(ds.exclude(**flt)) == len(ds)
    assert len(ds.include(**flt)) == int(matches(ds, flt).sum())


@SETTINGS
@given(ds=datasets(), tags=source_filters)
def test_source_include_then_exclude_leaves_no_source_and_keeps_order(ds, tags):
    counted("algebra")
    kept = ds.include(source=tags)
    assert kept.sources == tuple(s for s in ds.sources if s in tags)
    assert kept.exclude(source=tags).sources == ()
    assert ds.exclude(source=tags).sources == tuple(s for s in ds.sources if s not in tags)
    same_rows = kept.inventory.index.equals(ds.inventory.index)
    assert same_rows


@SETTINGS
@given(ds=datasets(), flt=row_filters(), tags=st.one_of(st.none(), source_filters))
def test_filters_never_change_the_original(ds, flt, tags):
    counted("algebra")
    inv, sources = snapshot(ds)
    ds.include(**flt, source=tags)
    ds.exclude(**flt, source=tags)
    pd.testing.assert_frame_equal(ds.inventory, inv)
    assert ds.sources == sources


@SETTINGS
@given(ds=datasets(), flt=row_filters(), tags=source_filters)
def test_nan_out_never_removes_rows_and_blanks_only_what_it_names(ds, flt, tags):
    counted("algebra")
    if not flt:
        return
    out = ds.exclude(**flt, source=tags)
    before, after = ds.inventory, out.inventory
    assert after.index.equals(before.index) and out.sources == ds.sources
    hit = matches(ds, flt)
    for column in before.columns:
        b, a = before[column].to_numpy(dtype=object), after[column].to_numpy(dtype=object)
        if column in tags:
            assert pd.isna(a[hit]).all()
            assert same_cells(a[~hit], b[~hit])
        else:
            assert same_cells(a, b)


@SETTINGS
@given(ds=datasets(), f=row_filters(), g=row_filters(),
       s=st.one_of(st.none(), source_filters), t=st.one_of(st.none(), source_filters))
def test_include_is_idempotent_and_commutes(ds, f, g, s, t):
    counted("algebra")
    once = ds.include(**f, source=s)
    same(once.include(**f, source=s), once)
    same(ds.include(**f, source=s).include(**g, source=t),
         ds.include(**g, source=t).include(**f, source=s))


@pytest.mark.parametrize("bad", [3, b"A", [1], {"A": 1}])
def test_filter_values_of_the_wrong_type_are_a_type_error(bad):
    ds = datakit.Dataset(pd.DataFrame(
        {"notes": ["p"]}, index=pd.MultiIndex.from_tuples([("A", "ses-01", "task-x")])))
    with pytest.raises(TypeError, match="subject must"):
        ds.include(subject=bad)


@SETTINGS
@given(first=labels, second=labels, sep=separators, data=st.data())
def test_the_leftmost_task_wins_whatever_its_case_with_folder_tokens_known(first, second, sep, data):
    """Discovery's fast path for file names in sub-/ses- folders keeps the leftmost rule."""
    counted("identity")
    name = f"{casing(data.draw, 'task')}-{first}{sep}task-{second}_notes.txt"
    assert parse_tokens(name, {"sub": "S", "ses": "1"})["task"] == first
