"""Bearer JWTs (OIDC-compatible): issuer, audience, expiry, keys chosen by `kid`.

Claims dondoc reads: `sub`, `name`, `roles` (office, unit, reviewer, leader, auditor, admin),
`unit_id` (for the unit role), `review_group` (for the reviewer role) and `clearance`
(thuong / mat / toi_mat / tuyet_mat: the highest secrecy level the person may see).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKSet

from dondoc_contracts import Actor, Role, nfc
from dondoc_contracts.values import Secrecy
from dondoc_platform.settings import AuthSettings

_IDENTIFIER = re.compile(r"[A-Za-z0-9._:/\-]{1,128}")
SECRECY_ORDER = [Secrecy.THUONG, Secrecy.MAT, Secrecy.TOI_MAT, Secrecy.TUYET_MAT]


class AuthError(Exception):
    """401: no usable credentials."""

    def __init__(self, message_en: str, message_vi: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_vi = message_vi


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    name: str | None = None
    unit_id: str | None = None
    review_group: str | None = None
    clearance: Secrecy = Secrecy.THUONG
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, *roles: Role | str) -> bool:
        return any(Role(r) in self.roles for r in roles)

    @property
    def primary_role(self) -> Role:
        for role in (Role.ADMIN, Role.OFFICE, Role.AUDITOR, Role.LEADER, Role.REVIEWER, Role.UNIT):
            if role in self.roles:
                return role
        return next(iter(self.roles))

    def cleared_for(self, level: Secrecy | str) -> bool:
        return SECRECY_ORDER.index(Secrecy(level)) <= SECRECY_ORDER.index(self.clearance)

    def actor(self) -> Actor:
        return Actor(id=self.subject, role=self.primary_role, name=self.name,
                     unit_id=self.unit_id, review_group=self.review_group)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    raw_roles = claims.get("roles") or []
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    try:
        roles = frozenset(Role(r) for r in raw_roles if r != Role.SYSTEM.value)
    except ValueError as e:
        raise AuthError(f"unknown role in token: {e}", f"vai trò không hợp lệ trong token: {e}") from e
    if not roles:
        raise AuthError("the token grants no dondoc role", "token không có vai trò nào trong dondoc")
    for claim in ("sub", "unit_id"):
        value = claims.get(claim)
        if value is not None and not _IDENTIFIER.fullmatch(str(value)):
            # an actor id or unit id travels in every event: refuse it here, not as a 500 later
            raise AuthError(f"the token's {claim} is not an identifier (letters, digits, ._:/-)",
                            f"{claim} trong token không phải mã định danh hợp lệ")
    if Role.UNIT in roles and not claims.get("unit_id"):
        raise AuthError("a unit token needs unit_id", "token của đơn vị thiếu unit_id")
    if Role.REVIEWER in roles and not claims.get("review_group"):
        raise AuthError("a reviewer token needs review_group", "token của tổ rà soát thiếu review_group")
    try:
        clearance = Secrecy(claims.get("clearance") or Secrecy.THUONG.value)
    except ValueError as e:
        raise AuthError("unknown clearance level", "mức độ mật không hợp lệ") from e
    return Principal(
        subject=str(claims["sub"]), roles=roles,
        name=nfc(claims["name"]) if claims.get("name") else None,
        unit_id=claims.get("unit_id"),
        review_group=nfc(claims["review_group"]) if claims.get("review_group") else None,
        clearance=clearance, claims=claims,
    )


class TokenVerifier:
    """Verifies bearer tokens against the issuer's keys; unknown `kid` reloads the key set
    (rotation), at most once every few seconds."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._loaded_at = 0.0
        # the key set is cached for jwks_cache_seconds (a key the issuer withdraws stops
        # verifying after that; no per-kid cache that would keep it for the process's life),
        # and an unknown kid fetches it again at most every 2 s, as from a file
        self._client = jwt.PyJWKClient(
            settings.jwks_url, cache_keys=False, lifespan=settings.jwks_cache_seconds,
            cooldown_duration=2.0) if settings.jwks_url else None

    @property
    def fetches_keys(self) -> bool:
        """Whether `verify` may fetch the issuer's keys over the network (a JWKS URL): then
        it must not run on an event loop. From a file, keys are read at most every 2 s, for
        an unknown `kid` only."""
        return self._client is not None

    def _reload(self) -> None:
        if not self.settings.jwks_file:
            raise AuthError("no signing keys configured (DONDOC_AUTH_JWKS_URL or _FILE)",
                            "chưa cấu hình khóa xác thực")
        document = json.loads(Path(self.settings.jwks_file).read_text())
        keyset = PyJWKSet.from_dict({"keys": [_public_only(k) for k in document.get("keys", [])]})
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
        self._loaded_at = time.monotonic()

    def _key_for(self, kid: str | None) -> Any:
        if not kid:
            raise AuthError("the token has no kid", "token thiếu kid")
        if self._client is not None:
            try:
                return self._client.get_signing_key(kid)
            except jwt.PyJWKClientError as e:
                raise AuthError(f"unknown signing key {kid}", f"khóa ký không xác định {kid}") from e
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._loaded_at > 2.0:
                self._reload()
            if kid not in self._keys:
                raise AuthError(f"unknown signing key {kid}", f"khóa ký không xác định {kid}")
            return self._keys[kid]

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header.get("kid"))
            claims = jwt.decode(
                token, key=key, algorithms=list(self.settings.algorithms),
                audience=self.settings.audience, issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise AuthError("the token has expired", "token đã hết hạn") from e
        except jwt.InvalidAudienceError as e:
            raise AuthError("the token is for another audience", "token không dành cho dondoc") from e
        except jwt.InvalidIssuerError as e:
            raise AuthError("the token's issuer is not trusted", "nơi cấp token không được tin cậy") from e
        except jwt.PyJWTError as e:
            raise AuthError(f"invalid token: {e}", f"token không hợp lệ: {e}") from e
        return principal_from_claims(claims)


def _public_only(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}


# --------------------------------------------------------------------------- development keys


class DevSigner:
    """The local stack's own issuer: an EC P-256 key in a JWKS file (private part included,
    so keep the file on the developer's machine). Services verify with the same file."""

    def __init__(self, jwks_file: Path, issuer: str = "https://dondoc.local/dev",
                 audience: str = "dondoc") -> None:
        self.jwks_file = jwks_file
        self.issuer = issuer
        self.audience = audience

    def ensure_key(self) -> dict[str, Any]:
        if self.jwks_file.exists():
            document = json.loads(self.jwks_file.read_text())
            if document.get("keys"):
                return document["keys"][-1]
        return self.rotate()

    def rotate(self) -> dict[str, Any]:
        """Add a new key (the newest signs); older keys stay for tokens already issued."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(private))
        jwk.update({"kid": uuid.uuid4().hex[:16], "alg": "ES256", "use": "sig"})
        document = {"keys": []}
        if self.jwks_file.exists():
            document = json.loads(self.jwks_file.read_text())
        document["keys"].append(jwk)
        self.jwks_file.parent.mkdir(parents=True, exist_ok=True)
        self.jwks_file.write_text(json.dumps(document, indent=2))
        self.jwks_file.chmod(0o600)
        return jwk

    def token(self, *, subject: str, roles: list[str], unit_id: str | None = None,
              review_group: str | None = None, clearance: str = "thuong", name: str | None = None,
              ttl_seconds: int = 8 * 3600, extra: dict[str, Any] | None = None) -> str:
        from jwt.algorithms import ECAlgorithm

        jwk = self.ensure_key()
        key = ECAlgorithm.from_jwk(json.dumps(jwk))
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": subject, "iat": now,
            "exp": now + ttl_seconds, "roles": roles, "clearance": clearance,
        }
        for name_, value in (("unit_id", unit_id), ("review_group", review_group), ("name", name)):
            if value:
                claims[name_] = value
        claims.update(extra or {})
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": jwk["kid"]})
