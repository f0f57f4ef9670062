"""Data sets: each opened as a :class:`latentlab.data.source.Source` by
:func:`latentlab.data.sources.open_source` (bundled digits and emoji, image folders, Parquet and
Arrow files, WebDataset tar shards), preprocessed by :mod:`latentlab.data.preprocess`."""
