"""W8's librdkafka client (confluent-kafka, which bundles librdkafka): produce N messages
through the broker with acks=all, batches as librdkafka forms them, then consume them
all back from the beginning, and print one JSON object with what it measured.

    python3 rdkafka_client.py --bootstrap HOST:PORT --topic T --messages N --size S \
        [--broker-pid PID] [--partitions P] [--timeout-s SECONDS]

Each message's key is its 8-byte big-endian sequence number, so the consume phase can
say afterwards (outside the timed loop) whether every acknowledged message came back
exactly once. Produce latency is librdkafka's own per-message figure (Message.latency():
from produce() to the broker's acknowledgement). CPU is getrusage of this process (every
librdkafka thread included) and, with --broker-pid, the broker's utime+stime from /proc.
Progress goes to stderr; stdout carries only the JSON.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from array import array

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_self():
    """This process and its finished children (kcat): each phase waits for its kcat."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def cpu_of(pid):
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICKS


def progress(msg):
    sys.stderr.write(f"w8 client: {msg}\n")
    sys.stderr.flush()


class Phase:
    """Wall time, this process's CPU and the broker's CPU over one phase."""

    def __init__(self, broker_pid):
        self.broker_pid = broker_pid
        self.t0 = time.perf_counter()
        self.cpu0 = cpu_self()
        self.broker0 = cpu_of(broker_pid)

    def end(self, messages, size):
        seconds = time.perf_counter() - self.t0
        broker1 = cpu_of(self.broker_pid)
        return {
            "messages": messages,
            "seconds": seconds,
            "messagesPerSec": messages / seconds,
            "mbPerSec": messages * size / seconds / 1e6,
            "clientCpuSeconds": cpu_self() - self.cpu0,
            "brokerCpuSeconds": None if broker1 is None else broker1 - self.broker0,
        }


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))
    return sorted_values[i]


def produce(args):
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        # The client's own batching, librdkafka's defaults spelled out so the report says
        # what ran: batches of up to 1 MB per partition, 5 ms linger, and at most 100,000
        # messages waiting in the client (produce() then waits for acknowledgements). A
        # message's latency includes its wait in that queue: this loop offers messages as
        # fast as librdkafka takes them, so p50/p99 show a full queue's wait, as Kafka's
        # own producer-perf-test does at full speed.
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 100_000,
    })
    latencies = array("d")
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
            return
        latencies.append(msg.latency())

    value = os.urandom(args.size)
    n = args.messages
    rate = args.rate
    progress(f"producing {n} x {args.size} B to {args.topic} (acks=all{f', paced at {rate}/s' if rate else ''})")
    phase = Phase(args.broker_pid)
    deadline = time.monotonic() + args.timeout_s
    step = max(1, n // 10)
    for i in range(n):
        if rate and i % 100 == 0:
            # Paced: message i is offered no earlier than the phase's start + i/rate, so
            # latency is the broker's and the client's, not a full queue's wait.
            while (ahead := phase.t0 + i / rate - time.perf_counter()) > 0:
                producer.poll(ahead)
        key = i.to_bytes(8, "big")
        while True:
            try:
                producer.produce(args.topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: wait for acknowledgements
        if i & 1023 == 0:
            producer.poll(0)
            if time.monotonic() > deadline:
                raise SystemExit(f"w8 client: produce did not finish in {args.timeout_s} s")
        if (i + 1) % step == 0:
            progress(f"produced {i + 1}/{n}, acknowledged {len(latencies)}")
    left = producer.flush(max(1.0, deadline - time.monotonic()))
    result = phase.end(n, args.size)
    if left:
        raise SystemExit(f"w8 client: {left} messages still unacknowledged after flush")
    if errors:
        raise SystemExit(f"w8 client: {len(errors)} deliveries failed, first: {errors[0]}")
    ordered = sorted(latencies)
    result["latencyMs"] = {
        "p50": percentile(ordered, 0.50) * 1e3,
        "p99": percentile(ordered, 0.99) * 1e3,
        "p999": percentile(ordered, 0.999) * 1e3,
        "max": ordered[-1] * 1e3,
    }
    return result


def consume(args):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        # confluent-kafka insists on a group id; with assign() (no subscribe) there is no
        # join, only fetches from the offsets given.
        "group.id": "w8-bench",
        "enable.auto.commit": False,
        "check.crcs": False,
    })
    partitions = args.partitions
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    n = args.messages
    keys = []
    progress(f"consuming {n} from the beginning of {args.topic} ({partitions} partition(s))")
    phase = Phase(args.broker_pid)
    deadline = time.monotonic() + args.timeout_s
    got = 0
    wrong_size = 0
    step = max(1, n // 10)
    next_report = step
    while got < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"w8 client: consumed {got} of {n} in {args.timeout_s} s")
        for m in consumer.consume(num_messages=10_000, timeout=1.0):
            err = m.error()
            if err is not None:
                raise SystemExit(f"w8 client: consume error: {err}")
            keys.append(m.key())
            if len(m.value()) != args.size:
                wrong_size += 1
            got += 1
        if got >= next_report:
            progress(f"consumed {got}/{n}")
            next_report += step
    result = phase.end(got, args.size)
    consumer.close()
    # Outside the timed loop: every sequence number exactly once?
    result.update(check_keys([int.from_bytes(k, "big") if k is not None and len(k) == 8 else -1 for k in keys], n))
    result["wrongSize"] = wrong_size
    return result


def check_keys(keys, n):
    """Every sequence number 0..n-1 exactly once? (keys: ints, -1 for a foreign key)."""
    seen = bytearray(n)
    duplicates = 0
    foreign = 0
    for i in keys:
        if i < 0 or i >= n:
            foreign += 1
        elif seen[i]:
            duplicates += 1
        else:
            seen[i] = 1
    return {"missing": n - sum(seen), "duplicates": duplicates, "foreign": foreign}


def kcat_input(args, path):
    """The producer's input, written (and made durable) before the clock starts, so its
    writeback does not share the disk with the broker: one line per message, an 8-digit
    hex key, ':', the value (args.size bytes of printable text)."""
    body = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (args.size // 36 + 1))[: args.size]
    with open(path, "wb") as f:
        chunk = []
        for i in range(args.messages):
            chunk.append(b"%08x:%s\n" % (i, body))
            if len(chunk) == 10_000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
        f.flush()
        os.fsync(f.fileno())


def kcat_phases(args):
    """W8 with kcat (C, librdkafka) as producer and consumer: no per-message Python, so
    the broker, not the client's loop, sets the pace. kcat reports no per-message
    latency; the produce phase is timed from kcat's start to its exit (it exits once
    every message is acknowledged)."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        raise SystemExit("w8 client: kcat is not installed (apt-get install kcat)")
    version = subprocess.run([kcat, "-V"], capture_output=True, text=True).stdout
    # "Version 1.7.1 (JSON, ..., librdkafka 2.0.2 builtin.features=...)"
    words = version.replace(",", " ").replace("(", " ").split()
    kcat_version = words[words.index("Version") + 1] if "Version" in words else "?"
    lib = words[words.index("librdkafka") + 1] if "librdkafka" in words else "?"
    tmp = tempfile.mkdtemp(prefix="w8-kcat-", dir=args.scratch)
    try:
        path = os.path.join(tmp, "input")
        progress(f"writing kcat's input: {args.messages} lines of {args.size} B")
        kcat_input(args, path)
        common = ["-b", args.bootstrap, "-t", args.topic, "-q"]
        progress(f"kcat producing {args.messages} x {args.size} B (acks=all)")
        phase = Phase(args.broker_pid)
        r = subprocess.run([kcat, "-P", *common, "-K", ":", "-X", "acks=all", "-l", path], capture_output=True, text=True, timeout=args.timeout_s)
        produce = phase.end(args.messages, args.size)
        if r.returncode != 0:
            raise SystemExit(f"w8 client: kcat -P failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
        progress(f"kcat consuming {args.messages} from the beginning")
        phase = Phase(args.broker_pid)
        r = subprocess.run([kcat, "-C", *common, "-o", "beginning", "-e", "-f", "%k %S\n"], capture_output=True, timeout=args.timeout_s)
        lines = r.stdout.splitlines()
        consume = phase.end(len(lines), args.size)
        if r.returncode != 0:
            raise SystemExit(f"w8 client: kcat -C failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()[-2000:]}")
        keys = []
        wrong_size = 0
        for line in lines:
            key, _, size = line.partition(b" ")
            try:
                keys.append(int(key, 16) if len(key) == 8 else -1)
            except ValueError:
                keys.append(-1)
            if size != str(args.size).encode():
                wrong_size += 1
        consume.update(check_keys(keys, args.messages))
        consume["wrongSize"] = wrong_size
        return {"client": f"kcat {kcat_version} (librdkafka {lib})", "produce": produce, "consume": consume}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--broker-pid", type=int)
    ap.add_argument("--timeout-s", type=float, default=600.0)
    ap.add_argument("--rate", type=int, default=0, help="offer at most this many messages per second (0: as fast as the client takes them)")
    ap.add_argument("--via", choices=["confluent-kafka", "kcat"], default="confluent-kafka")
    ap.add_argument("--scratch", default=tempfile.gettempdir(), help="where kcat's input file is written")
    args = ap.parse_args()
    if args.via == "kcat":
        out = kcat_phases(args)
    else:
        import confluent_kafka

        out = {"client": f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})"}
        out["produce"] = produce(args)
        out["consume"] = consume(args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
