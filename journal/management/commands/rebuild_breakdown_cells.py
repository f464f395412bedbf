"""Rebuild the breakdown cells (``journal.cells``) from every trade, under the configured bounds."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from journal import cells
from journal.models import BreakdownCell


class Command(BaseCommand):
    help = (
        "Rebuild the breakdown cells from the journal's trades with the configured bucket bounds "
        "(after a change of ANALYTICS_VIX_BOUNDS/ANALYTICS_PCR_BOUNDS, or on a journal migrated with trades)."
    )

    def handle(self, *args, **options):
        t0 = time.perf_counter()
        cells.rebuild()
        self.stdout.write(
            f"rebuilt {BreakdownCell.objects.count():,} breakdown cells in {time.perf_counter() - t0:.1f} s"
        )
