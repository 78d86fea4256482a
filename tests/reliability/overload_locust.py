"""Locust against the collector: ``python -m tests.reliability.overload_locust URL RPS SECONDS``.

Runs under Locust (gevent), so in a process of its own. Users post prebuilt OTLP requests at
a constant total rate, retry a 503 after its ``Retry-After`` as the OTel exporters do, and
report, as JSON on stdout: the statuses seen, 503s without ``Retry-After``, and the ids of
every span acknowledged.
"""

from __future__ import annotations

import json
import sys

import gevent
from locust import FastHttpUser, constant_throughput, task
from locust.env import Environment

from tests.reliability.harness import Requests

URL, RPS, SECONDS = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
USERS = 40
SPANS = 100
statuses: dict[int, int] = {}
acked: list[str] = []
missing_retry_after = 0
requests = Requests(SPANS)


class Exporter(FastHttpUser):
    host = URL
    wait_time = constant_throughput(RPS / USERS)

    @task
    def export(self) -> None:
        global missing_retry_after
        body, ids = requests.next()
        for _ in range(50):  # an exporter gives up at some point; 50 is generous
            with self.client.post(
                "/v1/traces", data=body, headers={"content-type": "application/x-protobuf"},
                catch_response=True,
            ) as response:  # fmt: skip
                code = response.status_code
                statuses[code] = statuses.get(code, 0) + 1
                response.success()  # 503 is expected here: counted, not a Locust failure
            if code == 200:
                acked.extend(ids)
                return
            retry_after = response.headers.get("retry-after")
            if code == 503 and not retry_after:
                missing_retry_after += 1
            gevent.sleep(float(retry_after or 1))


env = Environment(user_classes=[Exporter])
env.create_local_runner().start(USERS, spawn_rate=USERS)
gevent.sleep(SECONDS)
env.runner.quit()  # a request not yet acknowledged is simply not counted as acknowledged
print(
    json.dumps({"statuses": statuses, "acked": acked, "missing_retry_after": missing_retry_after})
)
