"""Numbered SQL migrations, applied in order by :func:`collector.schema.migrate`."""
