"""stemplay desktop app (PySide6). Importing this package does not import Qt."""
