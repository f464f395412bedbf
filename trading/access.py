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

import functools
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
from django.db import connections, router, transaction
from django.utils.translation import gettext_lazy
from rest_framework import authentication, exceptions
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


def owns_or_operates(user: Any, permission: str, owner_id: int | None) -> bool:
    """True when ``user`` holds ``permission`` and is ``owner_id`` (who started something) or holds
    ``CONTROL_DESK`` (an operator): a trader stops their own backtests, an operator any."""
    return has(user, permission) and (
        (owner_id is not None and owner_id == getattr(user, "pk", None)) or has(user, CONTROL_DESK)
    )


def require_owner(user: Any, permission: str, owner_id: int | None, what: str) -> None:
    """``require(user, permission)``, then ``owns_or_operates``: ``PermissionDenied`` naming ``what``."""
    require(user, permission)
    if not owns_or_operates(user, permission, owner_id):
        raise PermissionDenied(f"{what} was started by another user: only they or an operator may stop it")


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
            if user_obj.is_superuser:
                rows = Permission.objects.values_list("content_type__app_label", "codename").order_by()
            else:
                with connections[router.db_for_read(Permission)].cursor() as cursor:
                    cursor.execute(_permissions_sql(cursor.db.vendor), [user_obj.pk, user_obj.pk])
                    rows = cursor.fetchall()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache


@functools.lru_cache(maxsize=4)
def _permissions_sql(vendor: str) -> str:
    """A user's permissions, their own and their groups', as (app label, codename) rows: the SQL of
    ``Permission.objects.filter(user=...)`` UNION ``filter(group__user=...)`` written out once per
    process - the ORM took longer to compile the union (~1 ms) than the database to answer it, on
    every API request and page. Tables and columns from the models' metadata; parameters: the
    user's primary key, twice."""
    user_model = get_user_model()
    qn = connections[router.db_for_read(Permission)].ops.quote_name
    own = user_model._meta.get_field("user_permissions").remote_field.through._meta
    member = user_model._meta.get_field("groups").remote_field.through._meta
    granted = Group._meta.get_field("permissions").remote_field.through._meta
    content_type = Permission._meta.get_field("content_type")
    types = content_type.related_model._meta

    def column(meta: Any, model: Any) -> str:
        return qn(next(f.column for f in meta.fields if f.related_model is model))

    return (
        f"SELECT ct.{qn(types.get_field('app_label').column)}, p.{qn(Permission._meta.get_field('codename').column)} "
        f"FROM {qn(Permission._meta.db_table)} p "
        f"JOIN {qn(types.db_table)} ct ON ct.{qn(types.pk.column)} = p.{qn(content_type.column)} "
        f"WHERE p.{qn(Permission._meta.pk.column)} IN ("
        f"SELECT up.{column(own, Permission)} FROM {qn(own.db_table)} up WHERE up.{column(own, user_model)} = %s "
        f"UNION SELECT gp.{column(granted, Permission)} FROM {qn(granted.db_table)} gp "
        f"JOIN {qn(member.db_table)} ug ON ug.{column(member, Group)} = gp.{column(granted, Group)} "
        f"WHERE ug.{column(member, user_model)} = %s)"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (settings ``REST_FRAMEWORK``) with the token and its user read by
    one SQL statement written out once per process (``_token_sql``), where DRF builds the same
    select_related query through the ORM on every request. The same answers: the (user, token) pair,
    "Invalid token." for an unknown key, "User inactive or deleted." for an inactive user."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        alias = router.db_for_read(Token)
        connection = connections[alias]
        sql, token_columns, user_columns, columns = _token_sql(connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(gettext_lazy("Invalid token."))
        row = [_from_db(value, column, connection) for value, column in zip(row, columns, strict=True)]
        token = Token.from_db(alias, token_columns, row[: len(token_columns)])
        token.user = get_user_model().from_db(alias, user_columns, row[len(token_columns) :])
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(gettext_lazy("User inactive or deleted."))
        return token.user, token


def _from_db(value: Any, column: Any, connection: Any) -> Any:
    """A column's value as the ORM reads it: the backend's converters, then the field's (SQLite's
    datetimes made aware, say) - what ``SQLCompiler.apply_converters`` does."""
    for convert in connection.ops.get_db_converters(column) + column.field.get_db_converters(connection):
        value = convert(value, column, connection)
    return value


@functools.lru_cache(maxsize=4)
def _token_sql(vendor: str) -> tuple[str, list[str], list[str], list[Any]]:
    """The token of a key with its user (every concrete column of both), the attribute names of the
    token's and the user's columns in the order selected, and each column as an expression (for its
    converters); parameter: the key."""
    user_model = get_user_model()
    qn = connections[router.db_for_read(Token)].ops.quote_name
    token_fields = list(Token._meta.concrete_fields)
    user_fields = list(user_model._meta.concrete_fields)
    columns = [f"t.{qn(f.column)}" for f in token_fields] + [f"u.{qn(f.column)}" for f in user_fields]
    user_fk = Token._meta.get_field("user")
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(Token._meta.db_table)} t "
        f"JOIN {qn(user_model._meta.db_table)} u ON u.{qn(user_model._meta.pk.column)} = t.{qn(user_fk.column)} "
        f"WHERE t.{qn(Token._meta.get_field('key').column)} = %s"
    )
    expressions = [f.get_col("t") for f in token_fields] + [f.get_col("u") for f in user_fields]
    return sql, [f.attname for f in token_fields], [f.attname for f in user_fields], expressions


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
