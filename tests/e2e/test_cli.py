"""The ``orderbell`` command, run as a subprocess against a temporary database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import running_server


def orderbell(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderbell", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = dict(os.environ)
    values["ORDERBELL_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    values.pop("ORDERBELL_MERCHANT_PASSWORD", None)
    return values


def test_set_up_a_real_shop_without_the_demo(env: dict[str, str], tmp_path: Path) -> None:
    assert orderbell("db", "upgrade", env=env).returncode == 0
    created = orderbell("shop", "create", "河粉小馆", env=env)
    assert created.returncode == 0, created.stderr
    assert "created shop 1" in created.stdout

    merchant = orderbell(
        "merchant",
        "create",
        "--shop",
        "1",
        "--username",
        "boss",
        env=env | {"ORDERBELL_MERCHANT_PASSWORD": "s3cret-pass"},
    )
    assert merchant.returncode == 0, merchant.stderr
    taken = orderbell(
        "merchant",
        "create",
        "--shop",
        "1",
        "--username",
        "boss",
        env=env | {"ORDERBELL_MERCHANT_PASSWORD": "s3cret-pass"},
    )
    assert taken.returncode == 1 and "taken" in taken.stderr
    no_shop = orderbell(
        "merchant",
        "create",
        "--shop",
        "9",
        "--username",
        "ghost",
        env=env | {"ORDERBELL_MERCHANT_PASSWORD": "s3cret-pass"},
    )
    assert no_shop.returncode == 1 and "not found" in no_shop.stderr

    with running_server(tmp_path, database_url=env["ORDERBELL_DATABASE_URL"]) as server:
        login = httpx.post(
            f"{server.base_url}/admin/employee/login",
            json={"username": "boss", "password": "s3cret-pass"},
        )
    assert login.status_code == 200 and login.json()["data"]["shopId"] == 1


def test_merchant_password_can_come_from_a_prompt(env: dict[str, str]) -> None:
    orderbell("db", "upgrade", env=env)
    orderbell("shop", "create", "Noodles", env=env)
    result = orderbell(
        "merchant",
        "create",
        "--shop",
        "1",
        "--username",
        "staff",
        env=env,
        stdin="pw-123456\npw-123456\n",
    )
    assert result.returncode == 0, result.stderr
    assert "pw-123456" not in result.stdout


def test_demo_is_idempotent(env: dict[str, str]) -> None:
    orderbell("db", "upgrade", env=env)
    first = orderbell("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "Demo Kitchen" in first.stdout and "Second Kitchen" in first.stdout
    second = orderbell("demo", env=env)
    assert second.returncode == 0 and "already present" in second.stdout


def test_production_refuses_the_development_secret(env: dict[str, str]) -> None:
    result = orderbell("serve", "--port", "0", env=env | {"ORDERBELL_ENVIRONMENT": "production"})
    assert result.returncode == 2
    assert "ORDERBELL_SECRET_KEY" in result.stderr
