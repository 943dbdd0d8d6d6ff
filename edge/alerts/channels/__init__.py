"""Notification channels: MQTT always, Apprise for phones (WeCom, DingTalk, Feishu, e-mail …)."""

from edge.alerts.channels.apprise import AppriseChannel, is_apprise_url
from edge.alerts.channels.base import Channel, Notification
from edge.alerts.channels.mqtt import MqttChannel

__all__ = ["AppriseChannel", "Channel", "MqttChannel", "Notification", "is_apprise_url"]
