"""Write trades spooled while the database was unreachable (idempotent: safe to run any time)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from journal.services import drain_spool


class Command(BaseCommand):
    help = "Write spooled trades into the database, each exactly once."

    def handle(self, *args, **opts):
        result = drain_spool()
        self.stdout.write(f"written {result.written}, remaining {result.remaining}")
        if result.error:
            self.stderr.write(f"stopped: {result.error}")
            raise SystemExit(1)
