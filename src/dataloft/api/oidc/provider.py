"""The provider's routes, at Keycloak's paths.

- ``POST /realms/{realm}/protocol/openid-connect/token``: the password grant (a user's
  username and password) and the refresh grant, for a known client of the realm; OAuth
  2.0's error answers (RFC 6749 §5.2), with the status Keycloak gives each.
- ``GET /realms/{realm}/.well-known/openid-configuration``, ``.../certs`` (the JWKS),
  ``GET /realms/{realm}`` (Keycloak's realm document, with the public key Pbench Server
  reads), and ``.../userinfo``.
- ``POST /admin/realms/{realm}/users``: a dataloft admin's token (from any realm) makes a
  user, as Keycloak's admin API does; ``GET`` finds one by ``username``.

Two realms exist: the one Pbench's clients are told (``DATALOFT_OIDC_REALM``) and
``master``, where Keycloak's admin clients get their tokens. Users are dataloft's users,
the same in both. The clients: ``DATALOFT_OIDC_CLIENT`` and ``admin-cli`` in the first,
``admin-cli`` in ``master``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.forms import form_fields, is_form
from dataloft.api.origins import public_origin
from dataloft.api.pipeline import Call, Handler, PlainHandler, public
from dataloft.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.oidc import Client
from dataloft.core.values import parse_plain_json

MASTER = "master"
ADMIN_CLI = "admin-cli"
MAX_FORM = 64 * 1024
MAX_USER_BODY = 64 * 1024
CLAIMS = ["sub", "iss", "aud", "exp", "iat", "preferred_username", "email", "name"]
# A token answer must not be kept by a cache on the way (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _realm(call: Call) -> str:
    realm = call.param("realm")
    if realm not in (call.settings.oidc_realm, MASTER):
        raise NotFound("Realm does not exist")
    return realm


def _issuer(call: Call, realm: str) -> str:
    return f"{public_origin(call.request)}/realms/{realm}"


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


# --- tokens -----------------------------------------------------------------------------------


def token(call: Call) -> Response:
    realm = _realm(call)
    if not is_form(call.header("content-type")):
        return _oauth_error(400, "invalid_request", "the body must be x-www-form-urlencoded")
    fields = form_fields(call.read_body(MAX_FORM), call.settings.decode_limits)
    grant = fields.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
    clients = {ADMIN_CLI} if realm == MASTER else {call.settings.oidc_client, ADMIN_CLI}
    client_id = fields.get("client_id", "")
    if client_id not in clients:
        return _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    client = Client(_issuer(call, realm), realm, client_id)
    if grant == "password":
        address = call.request.client.host if call.request.client else None
        try:
            principal = call.loft.auth.authenticate_password(
                fields.get("username", ""), fields.get("password", ""), address
            )
        except Unauthenticated:
            return _oauth_error(401, "invalid_grant", "Invalid user credentials")
        return JSONResponse(call.loft.oidc.grant(principal, client), headers=NO_STORE)
    if grant == "refresh_token":
        try:
            answer = call.loft.oidc.refresh(fields.get("refresh_token", ""), client)
        except Unauthenticated as refused:
            return _oauth_error(400, "invalid_grant", refused.message)
        return JSONResponse(answer, headers=NO_STORE)
    return _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")


# --- what anyone may read ------------------------------------------------------------------------


def discovery(call: Call) -> Response:
    issuer = _issuer(call, _realm(call))
    endpoints = issuer + "/protocol/openid-connect"
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": endpoints + "/token",
            "jwks_uri": endpoints + "/certs",
            "userinfo_endpoint": endpoints + "/userinfo",
            # Only the grants a program uses: there is no browser sign-in page here.
            "grant_types_supported": ["password", "refresh_token"],
            "response_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": CLAIMS,
        }
    )


def certs(call: Call) -> Response:
    _realm(call)
    return JSONResponse(call.loft.oidc.jwks())


def realm_info(call: Call) -> Response:
    realm = _realm(call)
    issuer = _issuer(call, realm)
    return JSONResponse(
        {
            "realm": realm,
            "public_key": call.loft.oidc.public_key_base64(),
            "token-service": issuer + "/protocol/openid-connect",
            "account-service": issuer + "/account",
            "tokens-not-before": 0,
        }
    )


def userinfo(call: Call) -> Response:
    _realm(call)
    if call.actor.is_anonymous:
        raise Unauthenticated("a bearer token is required")
    return JSONResponse(call.loft.oidc.userinfo(call.actor))


# --- users (Keycloak's admin API) -----------------------------------------------------------------


def _require_admin(call: Call) -> None:
    if call.actor.is_anonymous:
        raise Unauthenticated("a bearer token is required")
    if not call.actor.is_admin:
        raise Forbidden("only admins manage users")


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    return value


def _password(body: dict[str, Any]) -> str | None:
    credentials = body.get("credentials", [])
    if not isinstance(credentials, list):
        raise Invalid("credentials must be a list")
    for credential in credentials:
        if isinstance(credential, dict) and credential.get("type", "password") == "password":
            value = credential.get("value")
            if not isinstance(value, str):
                raise Invalid("a password credential needs a value")
            return value
    return None


def create_user(call: Call) -> Response:
    realm = _realm(call)
    _require_admin(call)
    body = parse_plain_json(call.read_body(MAX_USER_BODY), call.settings.decode_limits)
    if not isinstance(body, dict):
        raise Invalid("the body must be a user representation (a JSON object)")
    username = _text(body, "username")
    if not username:
        raise Invalid("User name is missing")
    names = [n for n in (_text(body, "firstName"), _text(body, "lastName")) if n]
    try:
        made = call.loft.accounts.create_user(
            call.actor,
            username.lower(),  # Keycloak keeps user names in lower case
            _password(body),
            email=_text(body, "email") or None,
            full_name=" ".join(names) or None,
        )
    except Conflict:
        raise Conflict("User exists with same username") from None
    location = f"{public_origin(call.request)}/admin/realms/{realm}/users/{made.id}"
    return Response(status_code=201, headers={"Location": location})


def find_users(call: Call) -> Response:
    _realm(call)
    _require_admin(call)
    username = call.query("username")
    if not username:
        raise Invalid("give a username to look for")
    try:
        user = call.loft.accounts.get_user(call.actor, username.lower())
    except NotFound:
        return JSONResponse([])
    return JSONResponse(
        [
            {
                "id": str(user.id),
                "username": user.username,
                "email": user.email,
                "enabled": user.is_active,
                "createdTimestamp": int(user.created.timestamp() * 1000),
            }
        ]
    )


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/realms/{realm}": {"GET": public(realm_info)},
    "/realms/{realm}/.well-known/openid-configuration": {"GET": public(discovery)},
    "/realms/{realm}/protocol/openid-connect/certs": {"GET": public(certs)},
    "/realms/{realm}/protocol/openid-connect/token": {"POST": public(token)},
    "/realms/{realm}/protocol/openid-connect/userinfo": {"GET": userinfo, "POST": userinfo},
    "/admin/realms/{realm}/users": {"GET": find_users, "POST": create_user},
}
