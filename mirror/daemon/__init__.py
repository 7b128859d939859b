"""The resident service: scheduled sweeps, one instance per database, and
the systemd notify protocol that reports its health."""
