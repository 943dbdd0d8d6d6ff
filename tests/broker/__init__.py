"""Test brokers: a real mosquitto on a free loopback port, or the embedded amqtt without one."""
