"""PySide6 widgets: login window, main window, call panel, team view, settings."""
