"""dondoc public event contracts (filled by the event-backbone work)."""
