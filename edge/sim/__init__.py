"""Stand-ins for the demo: an embedded MQTT broker and (in later modules) virtual devices."""
