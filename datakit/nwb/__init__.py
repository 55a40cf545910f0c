"""NWB export: each cell of a Dataset, on its master clock, as one NWB file.

Imported only when used (``Dataset.to_nwb``, ``datakit export-nwb``, the app's Export
NWB action); it needs the ``nwb`` extra (``pip install 'datakit[nwb]'``: pynwb, hdmf,
nwbinspector).

Modules: :mod:`~datakit.nwb.export` (names, checks, running cells, atomic writes, the
report), :mod:`~datakit.nwb.cell` (one cell -> one NWBFile: metadata and the clock),
:mod:`~datakit.nwb.handlers` (where each built-in source goes), :mod:`~datakit.nwb.mapping`
(the builder and the generic rules for everything else, plugin sources included),
:mod:`~datakit.nwb.metadata` (the experiment JSON, hardware.yaml, subject, time zone).
"""
from __future__ import annotations

from .export import NWBExport, export, file_name
from .metadata import MetadataWarning

__all__ = ["NWBExport", "export", "file_name", "MetadataWarning"]
