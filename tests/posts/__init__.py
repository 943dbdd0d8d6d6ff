"""Tests of edge.posts."""
