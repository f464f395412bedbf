"""The analytics app stores nothing of its own: it reads the journal (trades and the performance
tables beside them, ``journal.models``)."""
