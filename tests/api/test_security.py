"""Sign-in, lockout, tokens, API keys, grid scoping, the audit log, personal data and hardening."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from core.db import utcnow
from core.security import crypto
from core.security.models import User
from core.security.rotation import rotate_personal_data
from core.security.tokens import issue
from tests.conftest import PASSWORD, Platform

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
NOBODY = {"Authorization": ""}
CAMERAS = "/api/v1/video-net/cameras"
VENDORS = "/api/v1/street-vendors/vendors"
# The worked examples of GB 11643-1999 (valid check digits) and a mobile number in the reserved test range.
ID_NUMBERS = ("11010519491231002X", "440524188001010014")
PHONE = "13800138000"


def camera(n: int, grid_id: int | None) -> dict[str, Any]:
    return {"code": f"330109000013{n:08d}", "name": f"Gate {n}", "owner": "community", "lon": 120.2, "lat": 30.1,
            "grid_id": grid_id}  # fmt: skip


async def sign_in(p: Platform, username: str, password: str) -> Any:
    return await p.client.post("/api/v1/auth/token", json={"username": username, "password": password}, headers=NOBODY)


# -- sign-in, lockout, tokens ------------------------------------------------------------------------


async def test_sign_in_gives_tokens_that_work_and_refresh(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        user = await p.user("commander")
        tokens = (await sign_in(p, user.username, PASSWORD)).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = (await p.client.get("/api/v1/auth/me", headers=bearer)).json()
        refreshed = await p.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=NOBODY
        )
        access_as_refresh = await p.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}, headers=NOBODY
        )
        refresh_as_access = await p.client.get(CAMERAS, headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert (me["name"], me["role"], me["grid_ids"]) == (user.username, "commander", None)
    assert "video_net:read" in me["permissions"] and "audit:read" not in me["permissions"]
    assert tokens["expires_in"] == 30 * 60 and tokens["token_type"] == "bearer"
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != tokens["access_token"]
    assert access_as_refresh.status_code == refresh_as_access.status_code == 401


async def test_unknown_user_and_wrong_password_get_the_same_answer(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        user = await p.user("viewer")
        wrong = await sign_in(p, user.username, "not-the-password-1")
        unknown = await sign_in(p, "nobody_here", "not-the-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "invalid username or password"


async def test_repeated_failures_lock_the_account_until_the_lock_expires(platform: PlatformFactory) -> None:
    async with platform(plugins="none", login_max_failures=3) as p:
        user = await p.user("viewer")
        for _ in range(3):
            assert (await sign_in(p, user.username, "wrong-password-1")).status_code == 401
        locked = await sign_in(p, user.username, PASSWORD)
        async with p.database.session() as session:
            stored = await session.get(User, user.id)
            assert stored is not None and stored.locked_until is not None
            stored.locked_until = utcnow() - timedelta(seconds=1)
        unlocked = await sign_in(p, user.username, PASSWORD)
    assert locked.status_code == 401
    assert unlocked.status_code == 200


async def test_expired_and_forged_tokens_are_refused(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        user = await p.user("admin")
        expired = issue(user.id, 0, "access", timedelta(seconds=-1))
        answer = await p.client.get(CAMERAS, headers={"Authorization": f"Bearer {expired}"})
        forged = await p.client.get(CAMERAS, headers={"Authorization": f"Bearer {expired[:-4]}AAAA"})
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert forged.status_code == 401


async def test_password_change_and_deactivation_end_existing_sessions(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        user = await p.user("commander")
        bearer = {"Authorization": f"Bearer {(await sign_in(p, user.username, PASSWORD)).json()['access_token']}"}
        weak = await p.client.post(
            "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=bearer
        )
        changed = await p.client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "another-horse-7"},
            headers=bearer,
        )
        after_change = await p.client.get(CAMERAS, headers=bearer)
        bearer = {
            "Authorization": f"Bearer {(await sign_in(p, user.username, 'another-horse-7')).json()['access_token']}"
        }
        deactivated = await p.client.patch(f"/api/v1/users/{user.id}", json={"active": False})
        after_deactivation = await p.client.get(CAMERAS, headers=bearer)
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    assert changed.status_code == 204
    assert after_change.status_code == 401
    assert deactivated.json()["active"] is False and after_deactivation.status_code == 401


async def test_sign_in_is_rate_limited(platform: PlatformFactory) -> None:
    async with platform(plugins="none", login_rate_per_minute=3) as p:
        answers = [(await sign_in(p, "someone", "wrong-password-1")).status_code for _ in range(5)]
        others = [(await p.client.get("/api/v1/auth/me")).status_code for _ in range(2)]
        elsewhere = [(await p.client.get("/api/v1/users")).status_code for _ in range(5)]
    assert answers[:3] == [401, 401, 401]
    assert answers[3:] == [429, 429]
    assert others == [429, 429]  # the whole of /api/v1/auth shares the limit
    assert elsewhere == [200] * 5  # the rest of the API does not


# -- API keys -------------------------------------------------------------------------------------------


async def test_api_key_is_shown_once_scoped_and_revocable(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        await p.client.post(CAMERAS, json=camera(1, None))
        bad_scope = await p.client.post("/api/v1/apikeys", json={"name": "box", "scopes": ["video_net:fly"]})
        created = (await p.client.post("/api/v1/apikeys", json={"name": "box", "scopes": ["video_net:ingest"]})).json()
        device = {"X-API-Key": created["key"]}
        beat = await p.client.post(f"{CAMERAS}/{camera(1, None)['code']}/heartbeat", headers=device)
        read = await p.client.get(CAMERAS, headers=device)
        listed = (await p.client.get("/api/v1/apikeys")).json()
        revoked = await p.client.post(f"/api/v1/apikeys/{created['api_key']['id']}/revoke")
        after = await p.client.post(f"{CAMERAS}/{camera(1, None)['code']}/heartbeat", headers=device)
        async with p.database.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT key_hash, last_used_at FROM api_keys"))).one()
    assert bad_scope.status_code == 422 and bad_scope.json()["errors"][0]["field"] == "scopes"
    assert beat.status_code == 200 and read.status_code == 403
    assert "key" not in listed["items"][0] and created["key"] not in str(listed)
    assert created["key"] not in stored.key_hash and stored.last_used_at is not None
    assert revoked.json()["revoked_at"] is not None
    assert after.status_code == 401


# -- grid scoping ---------------------------------------------------------------------------------------


async def test_grid_worker_sees_only_their_grids_and_gets_404_for_others(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        for n, grid in enumerate((1, 2, 2, 3, None)):
            assert (await p.client.post(CAMERAS, json=camera(n, grid))).status_code == 201
        worker = await p.headers_for("grid_worker", grid_ids=(2, 9))
        listed = (await p.client.get(CAMERAS, headers=worker)).json()
        own = await p.client.get(f"{CAMERAS}/{camera(1, 2)['code']}", headers=worker)
        other = await p.client.get(f"{CAMERAS}/{camera(0, 1)['code']}", headers=worker)
        missing = await p.client.get(f"{CAMERAS}/33010900001399999999", headers=worker)
        everything = (await p.client.get(CAMERAS, headers=await p.headers_for("supervisor"))).json()
    assert {item["grid_id"] for item in listed["items"]} == {2} and listed["total"] == 2
    assert own.status_code == 200
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"].replace(camera(0, 1)["code"], "") == missing.json()["detail"].replace(
        "33010900001399999999", ""
    )
    assert everything["total"] == 5


# -- audit log ------------------------------------------------------------------------------------------


async def test_writes_are_audited_with_actor_request_and_redacted_personal_data(
    platform: PlatformFactory, backend: dict[str, Any]
) -> None:
    async with platform(plugins="video_net", **backend) as p:
        created = await p.client.post(CAMERAS, json=camera(5, 4), headers={"X-Request-ID": "req-audit-1"})
        me = (await p.client.get("/api/v1/auth/me")).json()
        user = await p.client.post(
            "/api/v1/users",
            json={"username": "li.na", "password": PASSWORD, "role": "grid_worker", "phone": PHONE, "grid_ids": [4]},
        )
        await p.client.patch(f"/api/v1/users/{user.json()['id']}", json={"grid_ids": [4, 5]})
        camera_entries = (await p.client.get("/api/v1/audit", params={"resource": "video_net_cameras"})).json()
        user_entries = (await p.client.get("/api/v1/audit", params={"resource": "users", "action": "create"})).json()
        viewer = await p.client.get("/api/v1/audit", headers=await p.headers_for("supervisor"))
        async with p.database.engine.connect() as conn:
            camera_id = (
                await conn.execute(
                    text("SELECT id FROM video_net_cameras WHERE code = :c"), {"c": camera(5, 4)["code"]}
                )
            ).scalar_one()
            with pytest.raises(Exception, match="append-only"):
                await conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))
            await conn.rollback()
            with pytest.raises(Exception, match="append-only"):
                await conn.execute(text("DELETE FROM audit_log"))
    assert created.status_code == 201
    (entry,) = camera_entries["items"]
    assert entry["actor"] == f"user:{me['id']}:{me['name']}"
    assert (entry["action"], entry["request_id"], entry["before"]) == ("create", "req-audit-1", None)
    assert entry["resource_id"] == str(camera_id)  # a created row's entry names it
    assert entry["after"]["code"] == camera(5, 4)["code"] and entry["after"]["grid_id"] == 4
    assert entry["client_addr"]
    created_user = next(item for item in user_entries["items"] if item["after"]["username"] == "li.na")
    assert created_user["after"]["phone"] == "[redacted]" and created_user["after"]["password_hash"] == "[redacted]"
    assert PHONE not in str(user_entries)
    assert viewer.status_code == 403


# -- personal data ---------------------------------------------------------------------------------------


async def test_personal_data_is_encrypted_at_rest_searchable_and_masked(
    platform: PlatformFactory, backend: dict[str, Any]
) -> None:
    async with platform(plugins="street_vendors", **backend) as p:
        created = await p.client.post(
            VENDORS,
            json={"name": "张三丰", "phone": "138 0013 8000", "id_number": ID_NUMBERS[0].lower(), "category": "food"},
        )
        await p.client.post(VENDORS, json={"name": "李四", "phone": "13900139000", "category": "goods"})
        found = (await p.client.get(VENDORS, params={"phone": PHONE})).json()
        by_id = (await p.client.get(VENDORS, params={"id_number": ID_NUMBERS[0]})).json()
        masked = (await p.client.get(VENDORS, params={"phone": PHONE}, headers=await p.headers_for("viewer"))).json()
        duplicate = await p.client.post(VENDORS, json={"name": "王五", "id_number": ID_NUMBERS[0], "category": "food"})
        async with p.database.engine.connect() as conn:
            raw = (await conn.execute(text("SELECT name, phone, id_number FROM street_vendors_vendors"))).all()
    assert created.status_code == 201
    assert created.json()["phone"] == PHONE and created.json()["id_number"] == ID_NUMBERS[0]
    assert found["total"] == by_id["total"] == 1 and found["items"][0]["name"] == "张三丰"
    assert masked["items"][0]["phone"] == "138****8000"
    assert masked["items"][0]["id_number"] == "110***********002X"
    assert masked["items"][0]["name"] == "张**"
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "id_number_hash"
    stored = " ".join(str(value) for row in raw for value in row)
    for plaintext in (PHONE, "13900139000", ID_NUMBERS[0], "张三丰", "李四"):
        assert plaintext not in stored
    assert all(value.startswith("v1.") for row in raw for value in row if value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345678901"}, "phone"),
        ({"phone": "1380013800"}, "phone"),
        ({"id_number": "110105194912310021"}, "id_number"),  # wrong check digit
        ({"id_number": "11010519491231002"}, "id_number"),  # 17 characters
    ],
)
async def test_bad_phone_and_id_numbers_are_422_naming_the_field(
    platform: PlatformFactory, body: dict[str, str], field: str
) -> None:
    async with platform(plugins="street_vendors") as p:
        response = await p.client.post(VENDORS, json={"name": "赵六", "category": "food", **body})
        stored = (await p.client.get(VENDORS)).json()["total"]
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert stored == 0


async def test_the_sqlite_file_holds_no_plaintext_personal_data(platform: PlatformFactory, tmp_path: Path) -> None:
    async with platform(plugins="street_vendors") as p:
        for i, number in enumerate(ID_NUMBERS):
            await p.client.post(
                VENDORS, json={"name": f"摊主{i}", "id_number": number, "phone": PHONE, "category": "food"}
            )
        await p.database.dispose()  # checkpoint the WAL into the file
    files = b"".join(path.read_bytes() for path in (tmp_path / "var").glob("streetbrain.db*"))
    assert len(files) > 0
    for number in ID_NUMBERS:
        assert number.encode() not in files
    assert PHONE.encode() not in files


async def test_rotation_re_encrypts_with_the_new_key(platform: PlatformFactory) -> None:
    async with platform(plugins="street_vendors") as p:
        await p.client.post(VENDORS, json={"name": "钱七", "phone": PHONE, "category": "services"})
        old_secret = p.settings.secret_key_bytes()
        new_secret = b"n" * 48
        crypto.configure(new_secret, (old_secret,))
        counts = await rotate_personal_data(p.database)
        crypto.configure(new_secret)  # the old key is gone now
        async with p.database.engine.connect() as conn:
            raw_phone = (await conn.execute(text("SELECT phone FROM street_vendors_vendors"))).scalar_one()
        signed_in_again = await p.headers_for("admin")  # tokens are signed with a key of the new secret too
        found = (await p.client.get(VENDORS, params={"phone": PHONE}, headers=signed_in_again)).json()
    assert counts["street_vendors_vendors"] == 1
    assert raw_phone.split(".")[1] == crypto.key_ring().current_id
    assert found["total"] == 1 and found["items"][0]["phone"] == PHONE


# -- hardening ------------------------------------------------------------------------------------------


async def test_security_headers_request_size_limit_and_cors(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net", max_request_bytes=2048, cors_origins="https://cc.ningwei.example") as p:
        response = await p.client.get(CAMERAS)
        too_big = await p.client.post(
            CAMERAS, content=b"{" + b" " * 4096 + b"}", headers={"content-type": "application/json"}
        )
        preflight = await p.client.options(
            CAMERAS,
            headers={"Origin": "https://cc.ningwei.example", "Access-Control-Request-Method": "GET"},
        )
        stored = (await p.client.get(CAMERAS)).json()["total"]
        again = await p.client.get(CAMERAS, headers={"X-Request-ID": "not a valid id\t"})
        docs = await p.client.get("/schema/openapi.json")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-request-id"]
    assert again.headers["x-request-id"] not in ("", "not a valid id\t", response.headers["x-request-id"])
    assert docs.headers["x-frame-options"] == "DENY" and "content-security-policy" not in docs.headers
    assert too_big.status_code == 413 and stored == 0
    assert preflight.headers["access-control-allow-origin"] == "https://cc.ningwei.example"


async def test_role_mapping_is_configurable(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net", roles={"viewer": ["video_net:read"]}) as p:
        viewer = await p.headers_for("viewer")
        cameras = await p.client.get(CAMERAS, headers=viewer)
        users = await p.client.get("/api/v1/users", headers=viewer)
        bulk = await p.client.get("/api/v1/permissions")
    assert cameras.status_code == 200 and users.status_code == 403
    assert bulk.json()["roles"]["viewer"] == ["video_net:read"]


async def test_unknown_user_id_and_bad_role_are_clear(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        bad_role = await p.client.post("/api/v1/users", json={"username": "x1", "password": PASSWORD, "role": "boss"})
        taken = await p.client.post("/api/v1/users", json={"username": "x2", "password": PASSWORD, "role": "viewer"})
        taken_again = await p.client.post(
            "/api/v1/users", json={"username": "x2", "password": PASSWORD, "role": "viewer"}
        )
        missing = await p.client.patch("/api/v1/users/424242", json={"active": False})
        async with p.database.session() as session:
            await session.execute(update(User).where(User.username == "x2").values(role="viewer"))
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"
    assert taken.status_code == 201 and taken_again.status_code == 409
    assert missing.status_code == 404
