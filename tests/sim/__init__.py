"""Tests of the virtual devices (edge/sim)."""
