"""Tests of the demo scenario, its live view and the staff guide."""
