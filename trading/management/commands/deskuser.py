"""``manage.py deskuser NAME --role ROLE [--token] [--new-password] [--password-stdin]``: create a user
of the desk with one role (viewer, trader, operator; ``trading/access.py``), or change an existing
user's role, and print its API token.

A new user gets a generated password, printed once (or the one read from standard input with
``--password-stdin``); ``--new-password`` generates a new one for an existing user. ``--token``
prints the user's API token (``Authorization: Token <key>``), created when missing.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading import access


class Command(BaseCommand):
    help = "Create a desk user with a role (viewer, trader, operator), or change a user's role; --token prints its API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=access.ROLES)
        parser.add_argument("--token", action="store_true", help="print the user's API token")
        parser.add_argument(
            "--new-password", action="store_true", help="generate a new password for an existing user"
        )
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    def handle(self, *args, **opts) -> None:
        password = None
        if opts["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if len(password) < 8:
                raise CommandError("the password must have at least 8 characters")
        try:
            result = access.desk_user_save(
                username=opts["username"],
                role=opts["role"],
                password=password,
                token=opts["token"],
                new_password=opts["new_password"],
            )
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "Created" if result.created else "Updated"
        staff = " (staff: the admin)" if result.user.is_staff else ""
        self.stdout.write(f"{verb} user '{result.user.username}' with the role {opts['role']}{staff}.")
        if result.password is not None and not opts["password_stdin"]:
            self.stdout.write(f"Password (shown once): {result.password}")
        if result.token is not None:
            self.stdout.write(f"API token: {result.token}")
            self.stdout.write(
                f"  curl -H 'Authorization: Token {result.token}' http://127.0.0.1:8000/api/trades/"
            )
