"""Cloud speakers: the fleet, per-speaker queues, dispatch through profiles, proof of play."""
