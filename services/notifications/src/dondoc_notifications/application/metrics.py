"""The notifications service's own metrics (labels bounded: channel, rule)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENT = Counter("dondoc_notifications_sent_total", "Notices delivered", ["channel", "rule"])
FAILED = Counter("dondoc_notifications_failed_total",
                 "Notices that failed for good after bounded retries", ["channel", "rule"])
ATTEMPT_FAILURES = Counter("dondoc_notifications_attempt_failures_total",
                           "Delivery attempts that failed and will be retried", ["channel"])
PLANNED = Counter("dondoc_notifications_planned_total", "Notices recorded for delivery",
                  ["channel", "rule"])
UNADDRESSABLE = Counter("dondoc_notifications_unaddressable_total",
                        "Occasions that found no recipient with an address", ["rule"])
CHANNEL_UP = Gauge("dondoc_notifications_channel_up",
                   "1 when the channel worked at its last use, 0 while it is down", ["channel"])
RECONCILED = Counter("dondoc_notifications_reconciled_total",
                     "Notices found handed over after a restart and recorded as sent", ["channel"])
DELIVERY_SECONDS = Histogram("dondoc_notifications_delivery_seconds", "Time to deliver one notice",
                             ["channel"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OCCASION_ERRORS = Counter("dondoc_notifications_occasion_errors_total",
                          "Scheduled occasions that could not be turned into notices (see the log)", ["rule"])
