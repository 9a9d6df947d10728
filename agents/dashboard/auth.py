"""Who is logged in to the dashboard: users with hashed passwords, roles and organizations
(docs/security.md#dashboard-logins).

Sessions are Flask-Login's, CSRF tokens Flask-WTF's and password hashes werkzeug's (scrypt):
kept libraries, nothing hand-rolled. A user is read through genome.dashboard_user on every
request, so disabling one (`genome users disable`) ends their session at the next click.
Optionally a trusted reverse proxy that has already authenticated the person names them in a
header (single sign-on); the dashboard then must be reachable only through that proxy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from agents.dashboard import db
from agents.dashboard.commands import ROLES

# What each role may do, in order: a viewer reads; a reviewer also decides ads, curates
# exemplars, proposes experiments and acknowledges alerts; an admin also approves
# calibrated review configs.

# Checked against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash(uuid.uuid4().hex)

F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    """A salted hash of `password` (werkzeug's default, scrypt)."""
    return generate_password_hash(password)


@dataclass
class User(UserMixin):  # type: ignore[misc]
    """A logged-in person: their login name is the session's user id."""

    username: str
    user_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    role: str

    def get_id(self) -> str:
        return self.username

    def can(self, role: str) -> bool:
        """Whether this user has at least `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @classmethod
    def from_row(cls, row: db.Row) -> User:
        return cls(
            row["username"],
            row["id"],
            row["organization_id"],
            row["organization_name"],
            row["role"],
        )


def _active_user(username: str | None) -> db.Row | None:
    if not username:
        return None
    row = db.dashboard_user(current_app.config["GENOME_DSN"], username)
    return row if row is not None and row["is_active"] else None


def user() -> User:
    """The logged-in user (only inside views that require a login)."""
    return cast(User, current_user._get_current_object())


def requires(role: str) -> Callable[[F], F]:
    """The view needs a logged-in user with at least `role` (403 otherwise)."""

    def wrap(view: F) -> F:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not user().can(role):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, inner)

    return wrap


def login() -> str | Response:
    error = None
    if request.method == "POST":
        row = _active_user(request.form.get("username", "").strip())
        password = request.form.get("password", "")
        hashed = row["password_hash"] if row is not None else None
        ok = check_password_hash(hashed or _DUMMY_HASH, password) and hashed is not None
        if ok and row is not None:
            login_user(User.from_row(row))
            target = request.args.get("next", "")
            # Only a path of this site (no scheme, no //host): no open redirect.
            if not target.startswith("/") or target.startswith("//") or "\\" in target:
                target = url_for("index")
            return redirect(target)
        error = "Unknown user, wrong password or disabled account."
    return render_template("login.html", error=error, brand=None, now=None, errors=[], msg=None)


def logout() -> Response:
    logout_user()
    return redirect(url_for("login", msg="Logged out."))


def init_app(app: Flask, trusted_header: str | None) -> None:
    """Flask-Login on `app`; with `trusted_header`, the header a trusted reverse proxy sets
    to the authenticated person's login name (single sign-on: no password asked)."""
    manager = LoginManager(app)
    manager.login_view = "login"
    manager.session_protection = "strong"

    @manager.user_loader
    def load(username: str) -> User | None:
        # Behind the single-sign-on proxy its header is the only source of the user.
        row = None if trusted_header else _active_user(username)
        return None if row is None else User.from_row(row)

    if trusted_header:

        @manager.request_loader
        def from_proxy(req: Any) -> User | None:
            row = _active_user(req.headers.get(trusted_header))
            return None if row is None else User.from_row(row)

    app.add_url_rule("/login", view_func=login, methods=["GET", "POST"])
    app.add_url_rule("/logout", view_func=logout, methods=["POST"])
