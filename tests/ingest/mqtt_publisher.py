"""Test publisher: ``python mqtt_publisher.py <url> <tenant> <count> <per second>`` publishes ``count`` QoS 1
reports (one reading each, ts = 1_700_000_000 + i seconds, so duplicates in the lake are visible), printing
``progress <n>`` as PUBACKs arrive, then ``ack <i>`` for every message acknowledged, then ``done``."""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

T0 = 1_700_000_000


def main() -> None:
    """Publish at a steady pace and report each acknowledgement as it arrives."""
    url, tenant, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{tenant}")
    acked = 0

    def on_publish(*_args: object) -> None:  # no lock here: paho calls it holding its own message mutex
        nonlocal acked
        acked += 1
        sys.stdout.write(f"progress {acked}\n")
        sys.stdout.flush()

    client.on_publish = on_publish
    client.connect(host, int(port))
    client.loop_start()
    start, infos = time.monotonic(), []
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        infos.append(client.publish(f"chengyun/{tenant}/dev{i % 7}/telemetry",
                                    json.dumps({"ts": T0 + i, "values": {"v": i}}), qos=1))
    deadline = time.monotonic() + 30
    while acked < count and time.monotonic() < deadline:
        time.sleep(0.05)
    sys.stdout.write("".join(f"ack {i}\n" for i, info in enumerate(infos) if info.is_published()))
    client.disconnect()
    client.loop_stop()
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
