"""The panels of the main window; each listens to AppState and never calls another panel."""
