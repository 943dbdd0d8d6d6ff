"""Errors of the schedule package.

Hierarchy::

    GridedgeError                      (edge.errors)
     └── ConfigError                   (edge.config.errors) a schedule or holiday file is invalid;
                                       every problem names file and line

The schedule package raises no exception of its own: a bad schedule or holiday file is a
``ConfigError`` like a bad config.yaml, so staff see one message format everywhere.
"""

from __future__ import annotations

from edge.config.errors import ConfigError, Problem

__all__ = ["ConfigError", "Problem"]
