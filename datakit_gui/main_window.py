"""MainWindow: composes the panels, docks, actions and status bar (no data logic here).

Layout: experiment tree and filters on the left, the coverage heatmap in the centre, the
stream plot on the right, the report and the console at the bottom.  Every dock can be
moved; the layout and the recent folders are remembered (QSettings).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QStackedWidget

from . import dialogs, look, qtfix
from .commands import Commands
from .icons import app_icon
from .jobs import MAIN, JobRunner
from .notifications import NotificationButton, Notifier
from .preferences import Preferences
from .state import AppState
from .widgets.console import ConsoleDock
from .widgets.coverage_heatmap import CoverageHeatmap
from .widgets.experiment_tree import ExperimentTree
from .widgets.filter_panel import FilterPanel
from .widgets.job_status import JobStatus
from .widgets.report_table import ReportTable
from .widgets.stream_plot import StreamPlot
from .widgets.welcome import WelcomePage

SHORTCUTS_HELP = """<table>
<tr><td><b>Ctrl+O</b></td><td>Open an experiment folder</td></tr>
<tr><td><b>Ctrl+Shift+O</b></td><td>Open a saved dataset (.h5 / .pkl): df, or cell by cell</td></tr>
<tr><td><b>F5</b></td><td>Refresh (rescan the folders)</td></tr>
<tr><td><b>Ctrl+Shift+V</b></td><td>Validate the filtered selection</td></tr>
<tr><td><b>Ctrl+M</b></td><td>Materialize the filtered selection</td></tr>
<tr><td><b>Ctrl+S</b></td><td>Save the materialized frame</td></tr>
<tr><td><b>Ctrl+Shift+S</b></td><td>Save the filtered selection, cell by cell as it loads</td></tr>
<tr><td><b>Esc</b></td><td>Cancel the running job</td></tr>
<tr><td><b>F12</b></td><td>Console</td></tr>
<tr><td><b>Ctrl+F</b></td><td>Search the experiment tree</td></tr>
<tr><td><b>Ctrl+Shift+R</b></td><td>Reset filters</td></tr>
<tr><td><b>Ctrl+0</b></td><td>Heatmap: show all cells</td></tr>
<tr><td><b>Wheel / Ctrl+wheel</b></td><td>Heatmap: scroll / zoom</td></tr>
</table>"""

CONSOLE_MIN_USEFUL = 240      # px: a console dock lower than this is enlarged when opened
CONSOLE_SHARE = 0.36          # ... to this share of the window height


class MainWindow(QMainWindow):
    def __init__(self, *, settings=None, executor=None, workers: int | None = None, parent=None):
        qtfix.apply()
        qtfix.collect_in_gui_thread()
        look.apply()            # light plots, readable fonts, wherever the window is created
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("datakit")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.prefs = Preferences(settings)
        self.notifier = Notifier(self)       # the one route for errors and warnings
        self.notifier.install()
        self.state = AppState(self)
        self.jobs = JobRunner(self, workers=workers, executor=executor)
        use_scheduler, scheduler = self.prefs.scheduler()
        if use_scheduler and scheduler:     # connects at the first job, not now
            self.jobs.set_scheduler(scheduler)
        self.commands = Commands(self, self.state, self.jobs, self.prefs)
        self._closing = False
        self._released = False

        self.heatmap = CoverageHeatmap(self.state)
        self.welcome = WelcomePage(self.prefs)
        self.centre = QStackedWidget()
        self.centre.addWidget(self.welcome)
        self.centre.addWidget(self.heatmap)
        self.setCentralWidget(self.centre)

        self.tree = ExperimentTree(self.state)
        self.filters = FilterPanel(self.state)
        self.report = ReportTable(self.state)
        self.plot = StreamPlot(self.state, self.jobs)
        self.tree_dock = self._dock("Experiment", "experimentDock", self.tree, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.filter_dock = self._dock("Filters", "filterDock", self.filters, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.plot_dock = self._dock("Plot", "plotDock", self.plot, Qt.DockWidgetArea.RightDockWidgetArea)
        self.report_dock = self._dock("Report", "reportDock", self.report, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.console_dock = ConsoleDock(self.state, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.console_dock)
        self.tabifyDockWidget(self.report_dock, self.console_dock)
        self.report_dock.raise_()

        self._make_actions()
        self.job_status = JobStatus(self.jobs, self.actions["cancel"])
        self.notification_button = NotificationButton(self.notifier)
        # permanent: a status message never covers it
        self.statusBar().addPermanentWidget(self.notification_button)
        self.statusBar().addPermanentWidget(self.job_status)
        self.jobs_where = QLabel()
        self.jobs_where.setObjectName("jobsWhere")
        self.statusBar().addPermanentWidget(self.jobs_where)
        self._show_where(*self.jobs.where())
        self.jobs.where_changed.connect(self._show_where)
        self.commands.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.commands.opened.connect(self._opened)
        self.jobs.busy_changed.connect(self._update_actions)
        self.state.dataset_changed.connect(self._dataset_changed)
        self.state.frame_changed.connect(self._update_actions)
        self.state.saved_changed.connect(self._dataset_changed)
        self.state.filters_changed.connect(self._update_actions)
        self.welcome.open_requested.connect(self.commands.ask_open)
        self.welcome.demo_requested.connect(self.commands.open_demo)
        self.welcome.recent_requested.connect(self.open_roots)
        self.heatmap.cell_clicked.connect(lambda *_: self.plot_dock.raise_())
        self.heatmap.expectation_requested.connect(self.commands.set_expected)
        self.state.protocol_changed.connect(self._dataset_changed)

        self.resize(1600, 980)
        self._layout_restored = self.prefs.restore_window(self)
        self._update_actions()

    def showEvent(self, event):
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            QTimer.singleShot(0, self._default_layout)

    def _default_layout(self) -> None:
        """First run: left panels 22%, plot 42% of the width, report 20% of the height."""
        width, height = self.width(), self.height()
        self.resizeDocks([self.tree_dock, self.plot_dock], [int(width * 0.22), int(width * 0.42)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.tree_dock, self.filter_dock], [int(height * 0.27), int(height * 0.53)],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.report_dock], [int(height * 0.2)], Qt.Orientation.Vertical)

    # construction -----------------------------------------------------------------

    def _dock(self, title, name, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, key, text, slot, shortcut=None, tip=None, name=None) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name or "action" + key[0].upper() + key[1:])
        if shortcut:
            shortcuts = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = tip or text.replace("…", "")
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setStatusTip(tip)
        action.setIconText(text.replace("&", "").replace("…", "").replace(" Selection", "")
                           .replace(" Materialized", ""))
        action.triggered.connect(lambda checked=False: slot())
        self.actions[key] = action
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        c = self.commands
        a = self._action
        a("open", "&Open Folder…", c.ask_open, QKeySequence.StandardKey.Open, "Open an experiment folder")
        a("openSaved", "Open &Saved Dataset…", c.open_saved, "Ctrl+Shift+O",
          "Open a saved .h5/.pkl dataset as df; a large .h5 opens without loading, its cells "
          "read as you select them (a pickle asks first: it can run code)")
        a("refresh", "&Refresh", c.refresh, "F5", "Rescan the open folders")
        a("validate", "&Validate Selection", c.validate, "Ctrl+Shift+V",
          "Load every (cell, source) of the filtered selection and report problems")
        a("materialize", "&Materialize Selection", c.materialize, "Ctrl+M",
          "Load the filtered selection into one DataFrame (df)")
        a("save", "&Save Materialized…", c.save, QKeySequence.StandardKey.Save,
          "Save the materialized frame (.h5 HDF5 or .pkl pickle)")
        a("exportNwb", "Export &NWB…", c.export_nwb, None,
          "Export the filtered selection to NWB, one file per cell (named for DANDI), "
          "in the background")
        a("saveSelection", "Save Se&lection…", c.save_selection, "Ctrl+Shift+S",
          "Load the filtered selection and write it to a file cell by cell, without "
          "materializing it in memory (.h5)")
        a("saveProtocol", "Save &Protocol…", c.save_protocol, None,
          "Write what each task should have (your right-click choices) to datakit.toml "
          "in the experiment folder")
        a("cancel", "&Cancel", c.cancel, "Esc", "Cancel the running job")
        a("runOn", "Run Jobs &On…", c.ask_run_on, None,
          "Run validate and materialize on this computer or on a Dask scheduler "
          "(with a path map for workers that mount the data elsewhere)")
        a("console", "&Console", self.show_console, ["F12", "Ctrl+`"], "Open the IPython console")
        a("find", "&Find in Tree", self._find, QKeySequence.StandardKey.Find, "Search the experiment tree")
        a("resetFilters", "&Reset Filters", self.state.reset_filters, "Ctrl+Shift+R", "Clear every filter")
        a("fitHeatmap", "Show &All Cells", self.heatmap.fit_all, "Ctrl+0", "Zoom the heatmap out to every cell")
        a("exportPng", "Export Plot as &PNG…", self.plot.export_png, None, "Save the stream plot as an image")
        a("exportCsv", "Export Visible &Data as CSV…", self.plot.export_csv, None,
          "Save the plotted samples in the visible time range")
        a("demo", "Open the &Demo Experiment", c.open_demo, None, "Write (once) and open a demo experiment")
        a("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit, "Close datakit")
        a("shortcuts", "&Keyboard Shortcuts", self._show_shortcuts, "F1", "List the keyboard shortcuts")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for key in ("open", "openSaved"):
            file_menu.addAction(self.actions[key])
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(self.actions["refresh"])
        file_menu.addSeparator()
        for key in ("save", "saveSelection", "exportNwb", "saveProtocol", "exportPng", "exportCsv"):
            file_menu.addAction(self.actions[key])
        file_menu.addSeparator()
        file_menu.addAction(self.actions["quit"])
        data_menu = menu.addMenu("&Data")
        for key in ("validate", "materialize", "exportNwb", "cancel"):
            data_menu.addAction(self.actions[key])
        data_menu.addSeparator()
        data_menu.addAction(self.actions["runOn"])
        data_menu.addSeparator()
        data_menu.addAction(self.actions["resetFilters"])
        view_menu = menu.addMenu("&View")
        for key in ("console", "find", "fitHeatmap"):
            view_menu.addAction(self.actions[key])
        view_menu.addSeparator()
        for dock in (self.tree_dock, self.filter_dock, self.plot_dock, self.report_dock):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.actions["demo"])
        help_menu.addAction(self.actions["shortcuts"])

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for key in ("open", "refresh", None, "validate", "materialize", "save", "exportNwb", "cancel", None,
                    "console"):
            if key is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.actions[key])

    # public API -------------------------------------------------------------------

    def open_roots(self, paths) -> bool:
        """Open experiment folders (as if chosen in the dialog); discovery runs in the background."""
        return self.commands.open_roots([str(p) for p in paths])

    def show_console(self) -> None:
        self.console_dock.show()
        self.console_dock.raise_()
        self._useful_console_height()
        self.console_dock.start()
        if self.console_dock.console is not None:
            self.console_dock.console.setFocus()

    def _useful_console_height(self) -> None:
        """Open the console at a height one can work in (a third of the window) when its
        dock is lower than that; a height the user chose (and the app remembered) stays."""
        dock = self.console_dock
        if dock.isFloating():
            return
        shared = self.tabifiedDockWidgets(dock)
        height = max([dock.height()] + [d.height() for d in shared])
        if height < CONSOLE_MIN_USEFUL:
            self.resizeDocks([dock], [max(CONSOLE_MIN_USEFUL, int(self.height() * CONSOLE_SHARE))],
                             Qt.Orientation.Vertical)

    # reactions --------------------------------------------------------------------

    def _dataset_changed(self) -> None:
        has = self.state.dataset is not None
        self.centre.setCurrentWidget(self.heatmap if has else self.welcome)
        if has and self.state.saved_view and self.state.saved is not None:
            self.setWindowTitle(f"datakit — {Path(self.state.saved.path).name} (saved dataset)")
        elif has:
            names = ", ".join(Path(r).name for r in self.state.roots)
            unsaved = " (protocol not saved)" if self.state.protocol_unsaved else ""
            self.setWindowTitle(f"datakit — {names}{unsaved}")
        self._update_actions()

    def _show_where(self, short: str, long: str) -> None:
        self.jobs_where.setText(f"Jobs: {short}")
        self.jobs_where.setToolTip(f"Validate and Materialize load the files on {long}; plotting "
                                   "a cell always loads here. Data > Run Jobs On… changes it.")

    def _opened(self, roots) -> None:
        self.welcome.refresh()

    def _update_actions(self, *args) -> None:
        busy = self.jobs.busy(MAIN)
        saved_view = self.state.saved_view      # a saved file's cells: nothing to load them from
        has = self.state.dataset is not None and not saved_view
        ready = has and self.state.filtered is not None and len(self.state.filtered) > 0
        self.actions["cancel"].setEnabled(busy)
        for key in ("open", "openSaved", "demo", "runOn"):
            self.actions[key].setEnabled(not busy)
        self.actions["refresh"].setEnabled(has and not busy)
        self.actions["validate"].setEnabled(ready and not busy)
        self.actions["materialize"].setEnabled(ready and not busy)
        self.actions["exportNwb"].setEnabled(ready and not busy)
        self.actions["save"].setEnabled(self.state.frame is not None and not busy)
        self.actions["saveSelection"].setEnabled(ready and not busy)
        self.actions["saveProtocol"].setEnabled(has and self.state.dataset.protocol is not None)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.prefs.recent_folders()
        for roots in recent:
            action = self.recent_menu.addAction(" + ".join(roots))
            action.triggered.connect(lambda checked=False, r=roots: self.open_roots(r))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.prefs.clear_recent)

    def _find(self) -> None:
        self.tree_dock.show()
        self.tree_dock.raise_()
        self.tree.focus_search()

    def _show_shortcuts(self) -> None:
        dialogs.show_info(self, "Keyboard shortcuts", SHORTCUTS_HELP)

    # drag and drop ----------------------------------------------------------------

    @staticmethod
    def _dropped_folders(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event):
        if self._dropped_folders(event.mimeData()) and not self.jobs.busy(MAIN):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        folders = self._dropped_folders(event.mimeData())
        if folders:
            event.acceptProposedAction()
            self.open_roots(folders)

    # closing ----------------------------------------------------------------------

    def closeEvent(self, event):
        if not self._closing and not self.commands.keep_protocol_edits(self.close):
            event.ignore()
            return
        if self.jobs.running_jobs():
            # cancel, stop the worker processes (a running cell is not waited for), let the
            # jobs notice, then close for real (the window stays responsive meanwhile)
            if not self._closing:
                self._closing = True
                self.statusBar().showMessage("Cancelling the running job before closing…")
                self.jobs.idle.connect(self.close)
                self.jobs.cancel()
                self.jobs.stop_workers()
            event.ignore()
            return
        self.prefs.save_window(self)
        self.console_dock.shutdown()
        self.jobs.shutdown()
        if not self._released:
            self._released = True
            qtfix.release_gui_collector()
            self.notifier.uninstall()
        super().closeEvent(event)
