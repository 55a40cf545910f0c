"""Qt item models over the library's DataFrames (each passes pytest-qt's qtmodeltester)."""
from .check_model import CheckListModel
from .report_model import ReportTableModel
from .tree_model import ExperimentTreeModel

__all__ = ["CheckListModel", "ExperimentTreeModel", "ReportTableModel"]
