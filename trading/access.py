"""Who may do what: the desk's roles (Django groups), the permissions that pages, API and services
check, and the one way to create a user with a role and an API token.

Roles, each holding the permissions of the one before it:

* ``viewer`` - reads: the journal (pages, API, exports), analytics, strategies, the option chain,
  orders, positions, signals, backtest runs and sweeps;
* ``trader`` - writes to the journal: notes and tags, manual trades, imports; starts backtests and
  parameter sweeps (research: BACKTEST trades on the research queue, never the desk's);
* ``operator`` - the desk: kill switch, circuit-breaker reset, strategy configuration, LIVE
  confirmation, Kite login, corrections and deletions of trades, and the admin (operators are staff).

A superuser holds every permission. A user in no group can log in and read the API's docs, nothing
more: every page and endpoint names the permission it needs (``permission_required`` for pages,
``RolePermission`` for the API, the default of every API view). The groups are created by the
``trading`` migration ``0004_roles`` from ``ROLE_PERMISSIONS``; a change of that mapping needs a new
migration calling ``sync_role_groups`` again.

A leaf: imports Django and DRF, nothing of the project.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.decorators import permission_required as django_permission_required
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.permissions import SAFE_METHODS, BasePermission

VIEWER = "viewer"
TRADER = "trader"
OPERATOR = "operator"
ROLES = (VIEWER, TRADER, OPERATOR)

# --- The permissions checked, "app_label.codename" -------------------------------------------------
VIEW_JOURNAL = "journal.view_trade"
VIEW_ORDERS = "trading.view_order"
VIEW_POSITIONS = "trading.view_position"
VIEW_SIGNALS = "trading.view_signal"
VIEW_STRATEGIES = "trading.view_strategyconfig"
VIEW_MARKET = "trading.view_marketsnapshot"
ANNOTATE_TRADE = "journal.annotate_trade"  # notes and tags
RECORD_TRADE = "journal.add_trade"  # a manual trade
IMPORT_TRADES = "journal.import_trades"  # a tradebook or the journal's own CSV
CORRECT_TRADE = "journal.change_trade"  # any other field of a stored trade
DELETE_TRADE = "journal.delete_trade"
CONTROL_DESK = "trading.control_desk"  # kill switch, circuit-breaker reset, the control page
CONFIGURE_STRATEGIES = "trading.change_strategyconfig"
CONFIRM_LIVE = "trading.confirm_live"
KITE_LOGIN = "trading.kite_login"
VIEW_BACKTESTS = "trading.view_backtestrun"  # backtest runs and parameter sweeps, their reports
RUN_BACKTESTS = "trading.run_backtest"  # start a backtest or a sweep, promote a sweep's combination

# The fields of a trade a trader may change (everything else is a correction).
ANNOTATION_FIELDS = frozenset({"notes", "tags"})

_VIEWER_PERMISSIONS = (
    VIEW_JOURNAL,
    "journal.view_dailyperformance",
    "journal.view_strategyperformance",
    VIEW_ORDERS,
    VIEW_POSITIONS,
    VIEW_SIGNALS,
    VIEW_STRATEGIES,
    VIEW_MARKET,
    VIEW_BACKTESTS,
)
# Backtests are research: BACKTEST trades, never counted by the desk's risk figures, on the research
# queue that trading workers never consume - a trader may start them, as they may add manual trades.
_TRADER_PERMISSIONS = (*_VIEWER_PERMISSIONS, ANNOTATE_TRADE, RECORD_TRADE, IMPORT_TRADES, RUN_BACKTESTS)
_OPERATOR_PERMISSIONS = (
    *_TRADER_PERMISSIONS,
    CORRECT_TRADE,
    DELETE_TRADE,
    CONTROL_DESK,
    CONFIGURE_STRATEGIES,
    CONFIRM_LIVE,
    KITE_LOGIN,
    # The admin's read-only views of every table of the desk (operators are staff).
    "journal.view_*",
    "trading.view_*",
)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: _VIEWER_PERMISSIONS,
    TRADER: _TRADER_PERMISSIONS,
    OPERATOR: _OPERATOR_PERMISSIONS,
}
# Operators get the admin (is_staff); the others do not.
STAFF_ROLES = frozenset({OPERATOR})


def role_permissions(role: str) -> tuple[str, ...]:
    """The permissions (``app_label.codename``, ``*`` as a codename suffix wildcard) of ``role``."""
    try:
        return ROLE_PERMISSIONS[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}") from None


def has_user(user: Any) -> bool:
    """True when ``user`` is a logged-in user."""
    return bool(user is not None and getattr(user, "is_authenticated", False))


def has(user: Any, permission: str) -> bool:
    """True when ``user`` is logged in, active and holds ``permission``."""
    return has_user(user) and user.has_perm(permission)


def require(user: Any, permission: str) -> None:
    """Raise ``PermissionDenied`` naming ``permission`` unless ``user`` holds it (services call this:
    a page or an endpoint that forgot to check still cannot act)."""
    if not has(user, permission):
        raise PermissionDenied(f"needs the permission {permission}")


class RoleBackend(ModelBackend):
    """Django's ``ModelBackend`` (settings ``AUTHENTICATION_BACKENDS``) with a user's permissions read
    in one query, their own and their groups' together, where Django reads them in two: every API
    request and page asks (the user is read afresh each request, so a role change counts at once)."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):  # ModelBackend's per-user-object cache
            fields = ("content_type__app_label", "codename")
            if user_obj.is_superuser:
                rows = Permission.objects.values_list(*fields).order_by()
            else:
                own = Permission.objects.filter(user=user_obj).values_list(*fields).order_by()
                groups = Permission.objects.filter(group__user=user_obj).values_list(*fields).order_by()
                rows = own.union(groups)
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache


# --- Pages -------------------------------------------------------------------------------------------


def permission_required(permission: str) -> Callable:
    """Page decorator: anonymous users go to the login page, logged-in users without ``permission``
    get 403."""

    def decorator(view: Callable) -> Callable:
        return login_required(django_permission_required(permission, raise_exception=True)(view))

    return decorator


# --- API ---------------------------------------------------------------------------------------------


def required_permission(view: Any, method: str) -> str | None:
    """The permission ``view`` needs for ``method``: ``read_permission`` for GET/HEAD/OPTIONS,
    ``write_permissions[method]`` otherwise; None when the view names none (refused)."""
    if method in SAFE_METHODS:
        return getattr(view, "read_permission", None)
    return (getattr(view, "write_permissions", None) or {}).get(method)


class RolePermission(BasePermission):
    """The API's default permission: the request's user must hold the permission the view names for
    the method (``read_permission``, ``write_permissions = {"POST": ...}``). A view that names none
    refuses everyone, so a new endpoint is closed until it says who may use it. Anonymous requests
    get 401 (DRF asks for a token), logged-in ones without the permission 403."""

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not has_user(request.user):
            return False
        if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
            return True  # a method the endpoint does not have: 405, whoever asks
        permission = required_permission(view, request.method)
        return permission is not None and has(request.user, permission)


# --- Groups and users ----------------------------------------------------------------------------------


def _permissions_of(Permission: Any, names: tuple[str, ...], *, strict: bool = True) -> list:
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        rows = Permission.objects.filter(content_type__app_label=app_label)
        if codename.endswith("*"):
            rows = rows.filter(codename__startswith=codename[:-1])
        else:
            rows = rows.filter(codename=codename)
            if not rows.exists() and not strict:
                continue  # an earlier migration: a later one that adds it syncs the groups again
            if not rows.exists():
                raise LookupError(f"permission {name} does not exist (is its model migrated?)")
        found.extend(rows)
    return found


def sync_role_groups(apps: Any, schema_editor: Any = None) -> None:
    """Create the groups of ``ROLES`` with exactly the permissions of ``ROLE_PERMISSIONS`` (a data
    migration's function: ``apps`` is the migration's registry, or ``django.apps.apps``)."""
    # Permissions are created after migrations by default; the groups need them now.
    for app_config in apps.get_app_configs():
        # A migration's app configs have no models module, and create_permissions skips those.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    HistoricalGroup = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # A migration gives the groups the permissions that exist at its point of the history (the mapping
    # is today's); the project's registry (``user_with_role``, after every migration) needs them all.
    strict = apps is django_apps
    for role in ROLES:
        group, _ = HistoricalGroup.objects.get_or_create(name=role)
        group.permissions.set(_permissions_of(Permission, role_permissions(role), strict=strict))


@dataclass(frozen=True)
class DeskUser:
    """What ``desk_user_save`` did: the user, the password it set (None: unchanged) and the API token
    (None: not asked for)."""

    user: Any
    created: bool
    password: str | None
    token: str | None


def desk_user_save(
    *, username: str, role: str, password: str | None = None, token: bool = False, new_password: bool = False
) -> DeskUser:
    """Create ``username`` (or change an existing user's role) with exactly one role's group; staff
    for operators. A new user without ``password`` gets a generated one (returned, shown once);
    ``new_password`` generates a new one for an existing user. ``token`` returns the user's API token
    (created when missing)."""
    role_permissions(role)  # refuses an unknown role
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        created = user is None
        if created:
            user = User(username=username)
        if password is None and (created or new_password):
            password = secrets.token_urlsafe(12)
        if password is not None:
            user.set_password(password)
        user.is_staff = role in STAFF_ROLES or user.is_superuser
        user.is_active = True
        user.save()
        if not Group.objects.filter(name=role).exists():
            # Deleted since the migration made it (or flushed, as a test database is): made again.
            sync_role_groups(django_apps)
        group = Group.objects.get(name=role)
        user.groups.remove(*Group.objects.filter(name__in=ROLES))
        user.groups.add(group)
        key = Token.objects.get_or_create(user=user)[0].key if token else None
    return DeskUser(user=user, created=created, password=password, token=key)
