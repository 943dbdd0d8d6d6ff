"""Tests of the operations endpoints (metrics, health, status) and Home Assistant discovery."""
