"""The main window's dockable panels: one module per panel, each a thin view over
:class:`psfbench.app.bench_model.BenchModel` and core objects."""
