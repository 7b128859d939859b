"""Using the mirror: full-text search, read-only SQL, exports, and restoring
an earlier version of a recording.

Everything here reads the tables of :mod:`mirror.store.schema` (and the
search indexes and views of the migrations); only a restore writes, and it
writes through :class:`mirror.store.writer.MirrorWriter` like a sync does.
"""
