"""The revisions, oldest first: 0001 (notes, verdicts, queue, decisions), 0002 (audit log and
the listing/stats indexes), 0003 (the open items' age index)."""
