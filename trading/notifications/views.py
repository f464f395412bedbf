"""The notifications' page (operators): what is configured, where the notifier is, and a test message."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.shortcuts import redirect, render

from trading import access, outbox
from trading.notifications.dispatch import CURSOR, Notifier


@access.permission_required(access.CONTROL_DESK)
def notifications_page(request):
    """GET: the channels, their event types and the notifier's position; POST: a test message."""
    notifier = Notifier()
    if request.method == "POST":
        name = request.POST.get("channel", "")
        try:
            ok = notifier.send_test(name)
        except ValueError as exc:
            flash.error(request, str(exc))
        else:
            if ok:
                flash.success(request, f"Test message sent on {name}.")
            else:
                flash.error(request, f"The test message on {name} failed: see the log.")
        return redirect("notifications")
    cursor = outbox.OutboxCursor.objects.filter(name=CURSOR).first()
    context = {
        "channels": [
            {"name": c.transport.name, "types": sorted(c.types), "per_minute": round(c.bucket.rate * 60, 1)}
            for c in notifier.channels
        ],
        "telegram_base": settings.TELEGRAM_API_BASE,
        "telegram_chat": settings.TELEGRAM_CHAT_ID,
        "email_to": settings.NOTIFY_EMAIL_TO,
        "cursor": cursor,
        "head": outbox.head(),
    }
    return render(request, "trading/notifications.html", context)
