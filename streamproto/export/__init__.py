"""TLL storage as Arrow tables, and exported to Parquet, Arrow IPC and CSV.

    import streamproto
    t = streamproto.read_table("storage/output", message="Transaction", seq=(100, 200))
    tables = streamproto.read_tables("data.dat")      # {message name: Table}

Needs the optional extra ``pip install 'streamproto[arrow]'`` (pyarrow, numpy). The mapping of
TLL types to Arrow is documented in :mod:`tllschema.arrow` and docs/export.md.
"""
from streamproto.export.table import ExportError, MissingExtra, iter_batches, read_table, read_tables

__all__ = ["ExportError", "MissingExtra", "iter_batches", "read_table", "read_tables"]
