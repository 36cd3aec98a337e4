"""Telling people that something needs them: run failures, failed checks and held-back records,
recorded in the hub for the console (journal) and sent by webhook and e-mail (dispatch)."""

from ledgerbridge.notify.dispatch import Channel, Dispatcher, channels_from_config
from ledgerbridge.notify.message import Notification, NotifyError, links_for

__all__ = ["Channel", "Dispatcher", "Notification", "NotifyError", "channels_from_config", "links_for"]
