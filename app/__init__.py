"""psfbench GUI (PySide6 + pyqtgraph): thin views and controllers over ``core`` objects."""
