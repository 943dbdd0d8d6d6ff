"""Tests of the speaker fleet, proof of play, ad-hoc announcements, the clip server and simulator."""
