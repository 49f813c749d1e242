"""A Python client of the gridflex service (`gridflex serve`), on httpx.

::

    from gridflex.client import Client

    with Client("http://127.0.0.1:8080", token="gfx_…") as gf:
        order = gf.submit_order("DA-2030-01-02", "buy", isp=8, quantity_mw=10, price_eur_per_mwh=60,
                                idempotency_key="alice-0001")
        gf.cancel_order(order["id"])

Answers are the server's JSON (dicts and lists, as documented in its OpenAPI). Every refusal of the
server raises :class:`ServerError` whose message is one line (status, then what the server said,
the fields named); a server that cannot be reached raises :class:`ServiceUnreachableError`.
``http`` takes a ready httpx client instead (tests pass FastAPI's ``TestClient``, an httpx client
on the app in the same process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from gridflex.errors import GridflexError

__all__ = ["Client", "ServerError", "ServiceUnreachableError"]

PAGE = 1000  # the server's largest page of orders and trades


class ServerError(GridflexError):
    """The server refused a request: ``status`` is the HTTP status, ``detail`` its JSON detail."""

    def __init__(self, method: str, path: str, status: int, detail: Any, retry_after: str | None) -> None:
        self.method, self.path, self.status, self.detail = method, path, status, detail
        self.retry_after = retry_after
        super().__init__(f"{method} {path}: {status} {_detail_line(detail)}")


class ServiceUnreachableError(GridflexError):
    """No answer from the server (refused, timed out, not a URL)."""


def _detail_line(detail: Any) -> str:
    """The server's ``detail`` on one line: a message, or each field and what is wrong with it."""
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc", []) if x not in ("body",))
                parts.append(f"{loc}: {d.get('msg', '')}" if loc else str(d.get("msg", "")))
            else:
                parts.append(str(d))
        return "; ".join(parts)
    return " ".join(str(detail).split())


class Client:
    """The service at ``base_url`` as the holder of ``token``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        if http is not None:
            self.http = http
            return
        if not base_url.startswith(("http://", "https://")):
            raise ServiceUnreachableError(f"not a server URL: {base_url!r} (expected http://host:port)")
        try:
            self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        except (httpx.InvalidURL, ValueError) as exc:
            raise ServiceUnreachableError(f"not a server URL: {base_url!r} ({exc})") from None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> Any:
        """One call: the answer's JSON, or :class:`ServerError` / :class:`ServiceUnreachableError`."""
        r = self._send(method, path, json=json, params=params, headers=headers, content=content)
        if not r.content:
            return None
        ctype = r.headers.get("content-type", "")
        return r.json() if "json" in ctype else r.text

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            r = self.http.request(
                method,
                path,
                json=json,
                params=params,
                headers={**self.auth, **(headers or {})},
                content=content,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnreachableError(
                f"{method} {self.http.base_url}{path}: {exc or type(exc).__name__}"
            ) from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text or r.reason_phrase
            raise ServerError(method, path, r.status_code, detail, r.headers.get("retry-after"))
        return r

    # -- the caller
    def me(self) -> dict[str, Any]:
        return self.request("GET", "/v1/me")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    # -- products
    def create_user(
        self, email: str, name: str = "", org_admin: bool = False, org_id: int | None = None
    ) -> dict[str, Any]:
        """Add a user to the caller's organisation (``org_id``: the admin's choice of organisation)."""
        body = {"email": email, "name": name, "org_admin": org_admin, "org_id": org_id}
        return self.request("POST", "/v1/users", json=body)

    def list_users(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/users")

    def disable_user(self, user_id: int) -> dict[str, Any]:
        """Disable a user: every token of it is refused from the next request on."""
        return self.request("POST", f"/v1/users/{user_id}/disable")

    def create_token(
        self, name: str, user_id: int | None = None, org_id: int | None = None, expires_at: str | None = None
    ) -> dict[str, Any]:
        """A new API token; its ``secret`` is in this answer only."""
        body = {"name": name, "user_id": user_id, "org_id": org_id, "expires_at": expires_at}
        return self.request("POST", "/v1/tokens", json=body)

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/tokens/{token_id}")

    def list_products(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/products")

    def create_product(self, product: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/products", json=product)

    # -- orders
    def submit_order(
        self,
        product: str,
        side: str,
        isp: int,
        quantity_mw: float,
        price_eur_per_mwh: float | None = None,
        *,
        place: str = "",
        execution: str = "normal",
        client_ref: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit one order (MW over the ISP, limit price EUR/MWh; none: at any price). With an
        ``idempotency_key`` a retry returns the first answer instead of making a second order."""
        body = {
            "product": product, "place": place, "side": side, "isp": isp, "quantity_mw": quantity_mw,
            "price_eur_per_mwh": price_eur_per_mwh, "execution": execution, "client_ref": client_ref,
        }  # fmt: skip
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", "/v1/orders", json=body, headers=headers)

    def list_orders(
        self, product: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The visible orders, oldest first, every page fetched (up to ``limit`` orders)."""
        return list(self._pages("/v1/orders", {"product": product, "status": status}, limit))

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/orders/{order_id}")

    def cancel_order(self, order_id: int) -> dict[str, Any]:
        return self.request("POST", f"/v1/orders/{order_id}/cancel")

    # -- clearing, trades, jobs
    def run_clearing(self, product_id: str) -> dict[str, Any]:
        return self.request("POST", "/v1/clearing-runs", json={"product_id": product_id})

    def list_trades(self, run_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._pages("/v1/trades", {"run_id": run_id}, limit))

    def list_jobs(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/jobs")

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def wait_job(
        self,
        job_id: int,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll job ``job_id`` until it succeeded or failed (its last state); ``on_change`` sees each
        new status, stage or progress. :class:`TimeoutError` after ``timeout_s`` (None: no bound)."""
        end = None if timeout_s is None else time.monotonic() + timeout_s
        seen = None
        while True:
            job = self.get_job(job_id)
            state = (job["status"], job["stage"], job["progress"])
            if state != seen and on_change is not None:
                on_change(job)
            seen = state
            if job["status"] in ("succeeded", "failed"):
                return job
            if end is not None and time.monotonic() > end:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:g} s")
            time.sleep(poll_s)

    def job_file(self, job_id: int, name: str) -> bytes:
        """A file a job produced, e.g. an evaluation's ``report.html`` or ``summary.json``."""
        return self._send("GET", f"/v1/jobs/{job_id}/files/{name}").content

    # -- evaluation studies (files as `gridflex evaluate` takes them), evaluated as jobs
    def upload_study(self, study: str | Path | dict[str, Any]) -> dict[str, Any]:
        """Upload a study: a mapping, or the path of a YAML or JSON study file (sent as it is)."""
        if isinstance(study, dict):
            return self.request("POST", "/v1/studies", json=study)
        path = Path(study)
        ctype = "application/yaml" if path.suffix.lower() in (".yaml", ".yml") else "application/json"
        return self.request("POST", "/v1/studies", content=path.read_bytes(), headers={"Content-Type": ctype})

    def list_studies(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/studies")

    def evaluate_study(
        self, study_id: int, scenarios: int = 100, seed: int = 0, scenario_set: str | None = None
    ) -> dict[str, Any]:
        """Start the evaluation of study ``study_id`` as a job (the job; see :meth:`wait_job`)."""
        body = {"scenarios": scenarios, "seed": seed, "scenario_set": scenario_set}
        return self.request(
            "POST", f"/v1/studies/{study_id}/jobs", json={k: v for k, v in body.items() if v is not None}
        )

    # -- after the FlexOrder: connection points, meter readings, activations, baselines, settlements
    def register_connection_point(
        self, name: str, congestion_point: str | None = None, brp_org_id: int | None = None,
        prosumer_org_id: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body = {"name": name, "congestion_point": congestion_point, "brp_org_id": brp_org_id,
                "prosumer_org_id": prosumer_org_id}  # fmt: skip
        return self.request("POST", "/v1/connection-points", json=body)

    def upload_readings(self, readings: list[dict[str, Any]]) -> dict[str, Any]:
        """Readings as ``[{"connection_point", "start", "isp_s", "power_kw": [...]}]`` (kW per ISP);
        the same values again change nothing, a different one is a correction."""
        return self.request("POST", "/v1/meter-readings", json={"readings": readings})

    def upload_meter_csv(self, text: str) -> dict[str, Any]:
        """A meter CSV: ``time_utc``, then one column of kW per connection point."""
        return self.request(
            "POST", "/v1/meter-readings/csv", content=text.encode(), headers={"Content-Type": "text/csv"}
        )

    def readings(self, connection_point: str, start: str, end: str, isp_s: int = 900) -> dict[str, Any]:
        params = {"start": start, "end": end, "isp_s": isp_s}
        return self.request("GET", f"/v1/connection-points/{connection_point}/readings", params=params)

    def activate(
        self, offer_id: int, power_kw: list[float] | None = None, penalty_eur_per_mwh: float = 0.0
    ) -> dict[str, Any]:
        """Call for delivery of an accepted FlexOffer: kW per ISP (default: all not yet called)."""
        body = {"offer_id": offer_id, "power_kw": power_kw, "penalty_eur_per_mwh": penalty_eur_per_mwh}
        return self.request("POST", "/v1/activations", json=body)

    def list_activations(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self._pages("/v1/activations", {"status": status}, None))

    def acknowledge_activation(self, activation_id: int, connection_points: list[str]) -> dict[str, Any]:
        body = {"connection_points": connection_points}
        return self.request("POST", f"/v1/activations/{activation_id}/acknowledge", json=body)

    def decline_activation(self, activation_id: int, reason: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/activations/{activation_id}/decline", json={"reason": reason})

    def dispatch(self, activation_id: int, connection_point: str, power_kw: list[float],
                 price_eur_per_mwh: float, penalty_eur_per_mwh: float = 0.0) -> dict[str, Any]:  # fmt: skip
        """The aggregator calls ``power_kw`` per ISP of an activation it acknowledged from the prosumer
        behind ``connection_point``, at the prosumer's price (a dispatch: settled with ``portfolio``)."""
        body = {"connection_point": connection_point, "power_kw": power_kw,
                "price_eur_per_mwh": price_eur_per_mwh, "penalty_eur_per_mwh": penalty_eur_per_mwh}  # fmt: skip
        return self.request("POST", f"/v1/activations/{activation_id}/dispatches", json=body)

    def compute_baseline(self, connection_point: str, start: str, end: str, baseline: dict[str, Any],
                         **options: Any) -> dict[str, Any]:  # fmt: skip
        """The engine's ``baseline`` method on the stored readings of ``[start, end)`` (local days);
        ``options``: tz, history_days, holidays."""
        body = {
            "connection_point": connection_point,
            "start": start,
            "end": end,
            "baseline": baseline,
            **options,
        }
        return self.request("POST", "/v1/baselines", json=body)

    def run_settlement(
        self, start: str, end: str, baseline: dict[str, Any], **options: Any
    ) -> dict[str, Any]:
        """Settle the caller's acknowledged activations of ``[start, end)``; ``options``: tz,
        history_days, holidays, transfer_price_eur_per_mwh."""
        body = {"start": start, "end": end, "baseline": baseline, **options}
        return self.request("POST", "/v1/settlements", json=body)  # the job (202)

    def get_settlement(self, settlement_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/settlements/{settlement_id}")

    def settlement_lines(self, settlement_id: int) -> list[dict[str, Any]]:
        """The caller's lines of a settlement, with the ids a dispute names."""
        return self.request("GET", f"/v1/settlements/{settlement_id}/lines")

    def dispute(self, settlement_id: int, line_id: int, reason: str) -> dict[str, Any]:
        return self.request(
            "POST", f"/v1/settlements/{settlement_id}/disputes", json={"line_id": line_id, "reason": reason}
        )

    def disputes(self, settlement_id: int) -> list[dict[str, Any]]:
        return self.request("GET", f"/v1/settlements/{settlement_id}/disputes")

    def revise_settlement(self, settlement_id: int) -> dict[str, Any]:
        """Re-settle on the readings stored now: the job (202)."""
        return self.request("POST", f"/v1/settlements/{settlement_id}/revisions")

    def list_settlements(self) -> list[dict[str, Any]]:
        return list(self._pages("/v1/settlements", {}, None))

    def statement(
        self, settlement_id: int, period: str | None = None, csv: bool = False, difference: bool = False
    ) -> Any:
        """The caller's statement of a settlement (+ = receives): JSON rows, or the CSV text;
        ``difference``: of a revision, only what changed against the one it replaces."""
        params = {"period": period, "format": "csv" if csv else "json", "difference": difference or None}
        return self.request("GET", f"/v1/settlements/{settlement_id}/statement", params=params)

    def audit_events(self, object_type: str | None = None) -> list[dict[str, Any]]:
        return list(self._pages("/v1/audit-events", {"object_type": object_type}, None))

    def _pages(self, path: str, params: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
        after, left = 0, limit
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            page = self.request("GET", path, params={**params, "limit": size, "after": after})
            yield from page
            if len(page) < size:
                return
            after = page[-1]["id"]
            if left is not None:
                left -= len(page)
