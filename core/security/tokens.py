"""Bearer tokens: short-lived access tokens and longer refresh tokens, signed JWTs (HS256)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import jwt

from core.db import utcnow
from core.security.crypto import key_ring

ALGORITHM = "HS256"
ISSUER = "streetbrain"

TokenType = Literal["access", "refresh"]


class TokenError(Exception):
    """The token is malformed, forged, expired or of the wrong type."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    user_id: int
    version: int
    type: TokenType


def issue(user_id: int, version: int, token_type: TokenType, lifetime: timedelta) -> str:
    """A signed token for ``user_id`` valid for ``lifetime``; ``version`` invalidates old tokens."""
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "ver": version,
        "typ": token_type,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key_ring().token_key, algorithm=ALGORITHM)


def verify(token: str, expected: TokenType) -> TokenClaims:
    """The claims of a valid token of the ``expected`` type; :class:`TokenError` otherwise."""
    try:
        claims = jwt.decode(
            token, key_ring().token_key, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired; get a new one from /api/v1/auth/token or /refresh") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token ({exc})") from None
    if claims.get("typ") != expected:
        raise TokenError(f"expected an {expected} token")
    return TokenClaims(user_id=int(claims["sub"]), version=int(claims.get("ver", 0)), type=expected)
